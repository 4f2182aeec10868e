"""Clinical categories: the taxonomy the separation score is about.

The score rewards "related concepts of one disease category" close together and "unrelated
categories" apart. Neither ontology is organised that way: HPO is organised by anatomy and
physiology, and ICD-10-CM lumps pericarditis, valve disease, cardiomyopathy, arrhythmia and heart
failure into one block (I30-I5A). This table maps both onto clinical categories, per branch. A
concept belongs to every category whose ICD range or HPO anchor contains it; concepts under no
anchor are left out of category pairs. The table is clinical knowledge written by hand; no library
carries it.

Replay branches (the rest of medicine, trained beside cardiology so that an adapter does not
forget it) have no hand-written table: their categories are derived from the ontologies' own
structure, ICD-10-CM's blocks and mid-sized HPO subtrees (see
:func:`cardiolora.data.ontology.with_derived_categories`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Category:
    name: str
    icd_ranges: tuple[tuple[str, str], ...] = ()  # inclusive ranges of 3-character ICD-10-CM codes
    hpo_anchors: tuple[str, ...] = ()  # HPO ids whose descendants (and themselves) belong here
    note: str = ""

    def contains_icd(self, code: str) -> bool:
        category = code.split(".", 1)[0][:3]
        return any(low <= category <= high for low, high in self.icd_ranges)


@dataclass(frozen=True)
class Branch:
    """An organ system: an HPO subtree and ICD-10-CM blocks, with the clinical categories within.

    ``categories`` empty: derived from the ontologies when the concepts are loaded (replay branches).
    """

    name: str
    hpo_root: str | None
    icd_blocks: tuple[str, ...]
    categories: tuple[Category, ...] = field(default_factory=tuple)
    description: str = ""

    def category_names(self) -> list[str]:
        return [c.name for c in self.categories]


CARDIOVASCULAR = Branch(
    name="cardiovascular",
    hpo_root="HP:0001626",  # Abnormality of the cardiovascular system
    icd_blocks=(
        "I00-I02",
        "I05-I09",
        "I10-I1A",
        "I20-I25",
        "I26-I28",
        "I30-I5A",
        "I60-I69",
        "I70-I79",
        "I80-I89",
        "I95-I99",
        "Q20-Q28",
    ),
    categories=(
        Category("ischemic", (("I20", "I25"),), ("HP:0001658", "HP:0001681", "HP:0001677", "HP:0006704")),
        Category(
            "rhythm-conduction",
            (("I44", "I49"),),
            ("HP:0011675", "HP:0031546", "HP:0001695"),
            "arrhythmias, conduction blocks and cardiac arrest",
        ),
        Category("heart-failure", (("I50", "I50"),), ("HP:0001635", "HP:0030872")),
        Category(
            "valvular",
            (("I05", "I08"), ("I34", "I39")),
            ("HP:0001654", "HP:0031653"),
            "rheumatic and non-rheumatic valve disease",
        ),
        Category("cardiomyopathy", (("I42", "I43"),), ("HP:0001638", "HP:0001712", "HP:0001714")),
        Category("pericardial", (("I30", "I32"),), ("HP:0001697", "HP:0001701")),
        Category(
            "cardiac-infection-inflammation",
            (("I00", "I02"), ("I33", "I33"), ("I40", "I41"), ("I09", "I09")),
            ("HP:0100584", "HP:0012819"),
            "rheumatic fever, endocarditis, myocarditis",
        ),
        Category("hypertension", (("I10", "I1A"),), ("HP:0000822", "HP:0032263")),
        Category("pulmonary-vascular", (("I27", "I28"),), ("HP:0004930", "HP:0002092")),
        Category(
            "venous-thromboembolic",
            (("I26", "I26"), ("I80", "I82"), ("I83", "I87")),
            ("HP:0002624", "HP:0004936", "HP:0002204"),
            "pulmonary embolism, venous thrombosis, varices and venous insufficiency",
        ),
        Category(
            "arterial-aortic",
            (("I70", "I79"),),
            # Aorta, aneurysm, atherosclerosis, stenosis, claudication, vasculitis; not HPO's whole
            # "systemic arterial morphology" branch, which is mostly anomalies of small named arteries.
            ("HP:0001679", "HP:0002617", "HP:0002621", "HP:0100545", "HP:0004417", "HP:0002633", "HP:0004420"),
            "atherosclerosis, aneurysm, dissection, peripheral arterial disease, vasculitis",
        ),
        Category("cerebrovascular", (("I60", "I69"),), ("HP:0100659", "HP:0001297")),
        Category(
            "congenital-heart",
            (("Q20", "Q28"),),
            ("HP:0011545", "HP:0001671", "HP:0011723", "HP:0045017"),
            "congenital malformations of the heart and great vessels",
        ),
        Category("hypotension-shock", (("I95", "I95"),), ("HP:0002615", "HP:0001279")),
    ),
)

RESPIRATORY = Branch(
    name="respiratory",
    hpo_root="HP:0002086",  # Abnormality of the respiratory system
    icd_blocks=(
        "J00-J06",
        "J09-J18",
        "J20-J22",
        "J30-J39",
        "J40-J4A",
        "J60-J70",
        "J80-J84",
        "J85-J86",
        "J90-J94",
        "J96-J99",
        "C30-C39",
    ),
    categories=(
        Category("upper-airway", (("J00", "J06"), ("J30", "J39")), ("HP:0002087",)),
        Category("pneumonia-infection", (("J09", "J22"), ("J85", "J86")), ("HP:0002090", "HP:0002205")),
        Category("obstructive-airway", (("J40", "J4A"),), ("HP:0002099", "HP:0002097", "HP:0002110")),
        Category("occupational-exposure", (("J60", "J70"),), ()),
        Category("interstitial", (("J80", "J84"),), ("HP:0002206", "HP:0006515")),
        Category("pleural", (("J90", "J94"),), ("HP:0002103", "HP:0002202")),
        Category("respiratory-failure", (("J96", "J96"),), ("HP:0002093",)),
        Category("lung-neoplasm", (("C34", "C34"),), ("HP:0100526",)),
    ),
)

RENAL = Branch(
    name="renal",
    hpo_root="HP:0000077",  # Abnormality of the kidney
    icd_blocks=("N00-N08", "N10-N16", "N17-N19", "N20-N23", "N25-N29", "Q60-Q64"),
    categories=(
        Category("glomerular", (("N00", "N08"),), ("HP:0000099", "HP:0000100", "HP:0000093", "HP:0000790")),
        Category("tubulo-interstitial", (("N10", "N12"), ("N14", "N16"), ("N25", "N25")), ("HP:0000091", "HP:0000124")),
        Category("kidney-failure", (("N17", "N19"),), ("HP:0000083", "HP:0012212")),
        Category("urolithiasis-obstruction", (("N20", "N23"), ("N13", "N13")), ("HP:0000787",)),
        Category("cystic-structural", (("N26", "N29"), ("Q61", "Q61")), ("HP:0000107",)),
    ),
)

# The rest of medicine, by organ system: ICD-10-CM chapters (by number) or blocks, and the HPO
# subtree of the same system. Blocks of sequelae, infectious agents and intra- or post-procedural
# complications are left out: they name no condition of their own.
DERIVED_BRANCHES = (
    Branch(
        "infectious",
        None,
        (
            "A00-A09",
            "A15-A19",
            "A20-A28",
            "A30-A49",
            "A50-A64",
            "A65-A69",
            "A70-A74",
            "A75-A79",
            "A80-A89",
            "A90-A99",
            "B00-B09",
            "B10",
            "B15-B19",
            "B20",
            "B25-B34",
            "B35-B49",
            "B50-B64",
            "B65-B83",
            "B85-B89",
        ),
        description="infectious and parasitic diseases",
    ),
    Branch("neoplasm", "HP:0002664", ("2",), description="neoplasms"),
    Branch("blood-immune", "HP:0001871", ("3",), description="blood, blood-forming organs, immune mechanism"),
    Branch("endocrine-metabolic", "HP:0000818", ("4",), description="endocrine, nutritional, metabolic"),
    Branch("mental", "HP:0000708", ("5",), description="mental, behavioural, neurodevelopmental"),
    Branch("nervous", "HP:0000707", ("6",), description="nervous system"),
    Branch("eye", "HP:0000478", ("7",), description="eye and adnexa"),
    Branch("ear", "HP:0000598", ("8",), description="ear and mastoid"),
    Branch("digestive", "HP:0025031", ("11",), description="digestive system"),
    Branch("skin", "HP:0001574", ("12",), description="skin and subcutaneous tissue"),
    Branch("musculoskeletal", "HP:0033127", ("13",), description="musculoskeletal, connective tissue"),
    Branch(
        "genitourinary",
        "HP:0000078",
        ("N30-N39", "N40-N53", "N60-N65", "N70-N77", "N80-N98"),
        description="urinary tract below the kidney, genital organs, breast",
    ),
)

BRANCHES: dict[str, Branch] = {b.name: b for b in (CARDIOVASCULAR, RESPIRATORY, RENAL, *DERIVED_BRANCHES)}
# What ``cardiolora data ontology`` mixes into the target branch's pairs by default: every other
# organ system (docs/recipes.md, "Adapting without forgetting").
REPLAY_BRANCHES: tuple[str, ...] = tuple(name for name in BRANCHES if name != "cardiovascular")
# Replay pairs per target pair in the recommended recipe.
DEFAULT_REPLAY_RATIO = 0.5
# Relative replay shares by target branch (1 for a branch not named): the organ systems that share
# the target's vocabulary are the ones its adapter disturbs most (dyspnoea, oedema, pulmonary
# hypertension, cardiorenal syndrome: pulmonology and nephrology were the sets a cardiology adapter
# harmed most, docs/recipes.md), so they get twice the share of the others.
REPLAY_WEIGHTS: dict[str, dict[str, float]] = {"cardiovascular": {"respiratory": 2.0, "renal": 2.0}}
