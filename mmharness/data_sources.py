"""Where each task's data comes from: the declarations read by ``mmh data list/download/verify``.

A :class:`DataSource` is one thing to fetch (an archive or a file over HTTP(S), a Google Drive
file, a Hugging Face dataset snapshot) or one thing the user must fetch by hand (``manual``: the
source cannot be downloaded automatically, e.g. behind a registration form; its ``note`` says what
to do). It says how big it is, its published checksum (``None`` where the source publishes none:
the hash seen on the first download is then recorded in the data root's manifest and checked
later), its licence (and whether the terms must be accepted with ``--accept-licence``), and how it
unpacks into exactly the layout the task's loader reads under ``--data-root`` (``dest``, ``strip``,
``expect``).

Sources are declared once per benchmark family in :data:`FAMILY_SOURCES` (the key is the label
``mmh data list`` groups them under); a source's ``tasks`` (``fnmatch`` patterns, at least one)
names the tasks that need it. :func:`sources_for_task` is the lookup.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

#: how a source is fetched
KINDS = ("http", "gdrive", "hf_dataset", "manual")
#: archive formats a source may unpack from (``None``: a single file, copied as is)
ARCHIVES = ("tar", "zip")
#: checksum algorithms a source may declare (hashlib names)
ALGORITHMS = ("md5", "sha1", "sha256")


class DataSourceError(ValueError):
    """A declaration, a task name or a request about sources that cannot be honoured."""


@dataclass(frozen=True)
class Checksum:
    """A published digest: ``algo`` (``md5``, ``sha1``, ``sha256``), lowercase ``hex`` and where it
    was published (``published_by``)."""

    algo: str
    hex: str
    published_by: str = ""

    def __post_init__(self):
        if self.algo not in ALGORITHMS:
            raise DataSourceError(f"checksum algorithm {self.algo!r} is not one of {ALGORITHMS}")

    def as_dict(self) -> dict:
        return {"algo": self.algo, "hex": self.hex, "published_by": self.published_by or None}


@dataclass(frozen=True)
class Licence:
    """A licence: its ``name``, a ``url`` with the full text, ``accept`` (the terms must be accepted
    with ``--accept-licence`` before downloading), ``terms`` (the text printed before asking) and
    ``short`` (a few words for tables; default ``name``)."""

    name: str
    url: str = ""
    accept: bool = False
    terms: str = ""
    short: str = ""

    @property
    def label(self) -> str:
        """The few words shown in tables."""
        return self.short or self.name

    def as_dict(self) -> dict:
        return {"name": self.name, "short": self.label, "url": self.url or None, "accept_required": self.accept,
                "terms": self.terms or None}


@dataclass(frozen=True)
class Expect:
    """What ``verify`` checks after unpacking, relative to the source's ``dest``: a file
    (``path``, optionally with a published ``checksum``) or, with ``count``, a folder holding
    exactly ``count`` files matching ``pattern``."""

    path: str
    checksum: Checksum | None = None
    count: int | None = None
    pattern: str = "*"


@dataclass(frozen=True)
class DataSource:
    """One thing a task needs (see the module docstring).

    ``kind``: one of :data:`KINDS`; ``location``: the URL (``http``), the Drive file id
    (``gdrive``), the hub id (``hf_dataset``), or for ``manual`` the page to fetch it from.
    ``filename``: the downloaded file's name (also the name a ``--mirror`` serves it under).
    ``archive``: ``tar``/``zip`` or ``None`` (one file, placed at ``dest``); ``strip``: a leading
    folder of every archive member removed before placing the rest under ``dest`` (a member outside
    it is refused); ``dest``: where it goes, relative to ``--data-root``. ``revision`` and
    ``allow_patterns``: for ``hf_dataset`` (files placed under ``dest``). ``size``: for people.
    ``tasks``: ``fnmatch`` patterns of the tasks that need it."""

    name: str
    kind: str
    location: str
    dest: str
    licence: Licence
    size: str = ""
    filename: str = ""
    checksum: Checksum | None = None
    archive: str | None = None
    strip: str = ""
    expect: tuple[Expect, ...] = ()
    tasks: tuple[str, ...] = ()
    revision: str | None = None
    allow_patterns: tuple[str, ...] = ()
    note: str = ""
    what: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DataSourceError(f"source {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.archive not in (None, *ARCHIVES):
            raise DataSourceError(f"source {self.name!r}: archive {self.archive!r} is not one of {ARCHIVES}")
        if self.kind in ("http", "gdrive") and not self.filename:
            raise DataSourceError(f"source {self.name!r}: a {self.kind} source needs a filename")
        if not self.tasks:
            raise DataSourceError(f"source {self.name!r}: name the tasks that need it (tasks=...)")
        if self.kind == "manual" and not self.note:
            raise DataSourceError(f"source {self.name!r}: a manual source needs a note saying what to do")

    @property
    def fetchable(self) -> bool:
        """Whether ``mmh data download`` can fetch it (every kind but ``manual``)."""
        return self.kind != "manual"

    def applies_to(self, task: str) -> bool:
        """Whether task ``task`` needs this source (one of the ``tasks`` patterns matches)."""
        return any(fnmatch.fnmatchcase(task, p) for p in self.tasks)

    def origin(self) -> str:
        """Where it comes from in a few words (for tables): the host, the hub id, or ``by hand``."""
        if self.kind == "http":
            from urllib.parse import urlsplit

            return urlsplit(self.location).netloc
        return {"gdrive": "Google Drive", "hf_dataset": f"hub {self.location}"}.get(self.kind, "by hand")

    def official_url(self) -> str:
        """Where it comes from, as a URL a person can open."""
        if self.kind == "gdrive":
            return f"https://drive.google.com/uc?id={self.location}"
        if self.kind == "hf_dataset":
            return f"https://huggingface.co/datasets/{self.location}"
        return self.location

    def as_dict(self) -> dict:
        return {"name": self.name, "what": self.what or None, "kind": self.kind, "location": self.location,
                "url": self.official_url(), "filename": self.filename or None, "size": self.size or None,
                "checksum": self.checksum.as_dict() if self.checksum else None,
                "licence": self.licence.as_dict(), "dest": self.dest, "archive": self.archive,
                "note": self.note or None}


# --------------------------------------------------------------------------- declarations

_CIFAR_LICENCE = Licence(
    "no explicit licence (CIFAR test sets, Krizhevsky 2009; cite the tech report)",
    "https://www.cs.toronto.edu/~kriz/cifar.html", short="none stated")
_TV = "torchvision.datasets.CIFAR10/CIFAR100"

CIFAR_SOURCES = (
    DataSource(
        "cifar-10-python", "http", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        dest="cifar-10-batches-py", filename="cifar-10-python.tar.gz", archive="tar",
        strip="cifar-10-batches-py", size="163 MB", tasks=("cifar10_b",), licence=_CIFAR_LICENCE,
        checksum=Checksum("md5", "c58f30108f718f92721af3b95e74349a", _TV),
        expect=(Expect("test_batch", Checksum("md5", "40351d587109b95175f43aff81a1287e", _TV)),
                Expect("batches.meta", Checksum("md5", "5ff9c542aee3614f3951f8cda6e48888", _TV))),
        what="CIFAR-10 python version (the test batch is read)"),
    DataSource(
        "cifar-100-python", "http", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        dest="cifar-100-python", filename="cifar-100-python.tar.gz", archive="tar",
        strip="cifar-100-python", size="161 MB", tasks=("cifar100_b",), licence=_CIFAR_LICENCE,
        checksum=Checksum("md5", "eb9058c3a382ffc7106e4002c42a8d85", _TV),
        expect=(Expect("test", Checksum("md5", "f0ef6b0ae62326f3e7ffdfab6717acfc", _TV)),
                Expect("meta", Checksum("md5", "7973b15100ade9c7d40fb424638fde48", _TV))),
        what="CIFAR-100 python version (the test set is read)"),
)

_COCO_LICENCE = Licence("COCO annotations CC BY 4.0; images under their Flickr terms",
                        "https://cocodataset.org/#termsofuse", short="CC BY 4.0 + Flickr")

COCO_SOURCES = (
    DataSource(
        "coco-annotations-2017", "http",
        "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
        dest="coco/annotations", filename="annotations_trainval2017.zip", archive="zip", strip="annotations",
        size="241 MB", tasks=("coco_detection",), licence=_COCO_LICENCE,
        expect=(Expect("instances_val2017.json"),), what="COCO 2017 annotations"),
    DataSource(
        "coco-val2017", "http", "http://images.cocodataset.org/zips/val2017.zip",
        dest="coco/val2017", filename="val2017.zip", archive="zip", strip="val2017", size="778 MB",
        tasks=("coco_detection",), licence=_COCO_LICENCE,
        expect=(Expect(".", count=5000, pattern="*.jpg"),), what="COCO val2017 images"),
    DataSource(
        "coco-format-own-data", "manual", "https://cocodataset.org/#format-data", dest=".",
        tasks=("coco_format",), licence=Licence("yours", short="yours"),
        note="coco_format evaluates your own COCO-format data: name it with "
             "--task-args annotations=PATH,images=DIR", what="your COCO-format data"),
)

_VG_TERMS = (
    "The ARO Visual Genome files are derived from Visual Genome (Krishna et al., 2017), licensed under "
    "CC BY 4.0 (https://visualgenome.org/; https://creativecommons.org/licenses/by/4.0/): you must give "
    "appropriate credit (cite Visual Genome and ARO) and indicate changes. The images themselves come from "
    "YFCC100M and MS-COCO and remain under the Creative Commons licences of their Flickr authors. Use them "
    "for research, and do not redistribute them as your own.")
_VG_LICENCE = Licence("Visual Genome terms (CC BY 4.0; images under their Flickr licences)",
                      "https://visualgenome.org/", accept=True, terms=_VG_TERMS, short="VG terms (CC BY 4.0)")
_ARO = "ARO (github.com/mertyg/vision-language-models-are-bows)"
_VG_TASKS = ("snare_negation_logic*", "snare_attribute_ownership*", "snare_relationship_composition*",
             "snare_spatial_relationship*", "snare_describe_vg")
_ATTRIBUTION_TASKS = ("snare_negation_logic*", "snare_attribute_ownership*", "snare_describe_vg")
_RELATION_TASKS = ("snare_relationship_composition*", "snare_spatial_relationship*")
_BLIP = "https://storage.googleapis.com/sfr-vision-language-research/datasets/"

SNARE_SOURCES = (
    DataSource(
        "aro-vg-relation", "gdrive", "1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3",
        dest="prerelease_bow/visual_genome_relation.json", filename="visual_genome_relation.json",
        size="~10 MB", tasks=_RELATION_TASKS, licence=_VG_LICENCE,
        what=f"VG-Relation items of {_ARO}"),
    DataSource(
        "aro-vg-attribution", "gdrive", "13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw",
        dest="prerelease_bow/visual_genome_attribution.json", filename="visual_genome_attribution.json",
        size="~10 MB", tasks=_ATTRIBUTION_TASKS, licence=_VG_LICENCE,
        what=f"VG-Attribution items of {_ARO}"),
    DataSource(
        "aro-vg-images", "gdrive", "1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9",
        dest="prerelease_bow/images", filename="vgr_vga_images.zip", archive="zip", strip="images",
        size="~1 GB", tasks=_VG_TASKS, licence=_VG_LICENCE,
        what=f"the Visual Genome images of the VG files ({_ARO})"),
    DataSource(
        "karpathy-coco-test", "http", _BLIP + "coco_karpathy_test.json", dest="coco/coco_karpathy_test.json",
        filename="coco_karpathy_test.json", size="~1 MB", tasks=("snare_semantic_structure_coco*",),
        licence=Licence("BLIP release (BSD-3-Clause); captions CC BY 4.0", "https://github.com/salesforce/BLIP",
                        short="BSD-3, CC BY 4.0"),
        what="COCO Karpathy test split (BLIP)"),
    DataSource(
        "coco-val2014", "http", "http://images.cocodataset.org/zips/val2014.zip", dest="coco/val2014",
        filename="val2014.zip", archive="zip", strip="val2014", size="6.2 GB",
        tasks=("snare_semantic_structure_coco*",), licence=_COCO_LICENCE,
        expect=(Expect(".", count=40504, pattern="*.jpg"),), what="COCO val2014 images"),
    DataSource(
        "karpathy-flickr30k-test", "http", _BLIP + "flickr30k_test.json", dest="flickr30k/flickr30k_test.json",
        filename="flickr30k_test.json", size="~200 kB", tasks=("snare_semantic_structure_flickr30k*",),
        licence=Licence("BLIP release (BSD-3-Clause)", "https://github.com/salesforce/BLIP", short="BSD-3"),
        what="Flickr30k Karpathy test split (BLIP)"),
    DataSource(
        "flickr30k-images", "manual", "https://shannon.cs.illinois.edu/DenotationGraph/",
        dest="flickr30k/flickr30k-images", size="4.2 GB", tasks=("snare_semantic_structure_flickr30k*",),
        licence=Licence("Flickr30k terms of use (non-commercial research; images under Flickr terms)",
                        "https://shannon.cs.illinois.edu/DenotationGraph/", short="Flickr30k terms"),
        expect=(Expect(".", count=31783, pattern="*.jpg"),),
        note="the Flickr30k images are given out through a registration form: request them at the "
             "page above, then unpack flickr30k-images/ into <data-root>/flickr30k/",
        what="Flickr30k images"),
)

MMRA_SOURCES = (
    DataSource(
        "m-a-p/MMRA", "hf_dataset", "m-a-p/MMRA", dest="MMRA", size="~570 MB", tasks=("mmra", "mmra_qo"),
        licence=Licence("no licence declared (images from LLaVA-665k: their sources' licences apply)",
                        "https://huggingface.co/datasets/m-a-p/MMRA", short="none declared"),
        expect=(Expect("data", count=2, pattern="train-*.parquet"),), what="MMRA (1,024 rows, images inside)"),
)

_PIXELWORLD_CLASSES = {
    "pixelworld_arc": "ARCDataset", "pixelworld_glue": "GLUEDataset", "pixelworld_gsm8k": "GSM8KDataset",
    "pixelworld_mathverse": "MathverseDataset", "pixelworld_mbpp": "MBPPDataset",
    "pixelworld_mmlu_pro": "MMLUProDataset", "pixelworld_slidesvqa": "SlidesVQADataset",
    "pixelworld_superglue": "SuperGLUEDataset", "pixelworld_tablebench": "TableBenchDataset",
    "pixelworld_wikiss_qa": "WikiSS_QADataset",
}
_PIXELWORLD_LICENCE = Licence("MIT (dataset card); the source datasets' licences also apply",
                              "https://huggingface.co/datasets/TIGER-Lab/PixelWorld", short="MIT + sources")

PIXELWORLD_SOURCES = tuple(
    DataSource(
        f"TIGER-Lab/PixelWorld:{cls}", "hf_dataset", "TIGER-Lab/PixelWorld", dest="PixelWorld",
        allow_patterns=(f"data/{cls}-*",), tasks=(task,), size="part of 313 GB",
        licence=_PIXELWORLD_LICENCE, expect=(Expect("data", pattern=f"{cls}-*.parquet"),),
        what=f"PixelWorld {cls} split (one class of the release)")
    for task, cls in _PIXELWORLD_CLASSES.items())

MINTREC2_SOURCES = (
    DataSource(
        "THUIAR/MMLA-Datasets:MIntRec2.0", "hf_dataset", "THUIAR/MMLA-Datasets", dest=".",
        allow_patterns=("MIntRec2.0/*.tsv", "MIntRec2.0/*.json"), size="a few MB", tasks=("mintrec2",),
        licence=Licence("CC BY-NC-SA 4.0 (MIntRec2.0 README; the most restrictive declared)",
                        "https://github.com/thuiar/MIntRec2.0", short="CC BY-NC-SA 4.0"),
        expect=(Expect("MIntRec2.0", pattern="*.tsv"),),
        what="MIntRec2.0 text and labels in the MMLA layout (media: see the card)"),
)

_AVA_TERMS = (
    "AVA annotations are licensed CC BY 4.0 (https://research.google.com/ava/download.html). The videos are "
    "films owned by their rights holders, distributed by the CVDF for research only; you may not redistribute "
    "them.")

REFAVA_SOURCES = (
    DataSource(
        "refava-annotations", "manual", "https://drive.google.com/drive/folders/1XBJe7MsKTQxdWpivdOJ0AtbWQJ89JbTv",
        dest="refava/refava_annotations.json", size="a few MB", tasks=("refava",),
        licence=Licence("no licence stated for the annotations (RAVAR code: MIT)",
                        "https://github.com/KPeng9510/RAVAR", short="none stated"),
        expect=(Expect("."),),
        note="download the {split}_set_{keyframe,label,description}_crr_final.pkl files of the Drive folder "
             "above, then run mmh data convert refava --pickles FILE ... -o <data-root>/refava/"
             "refava_annotations.json", what="RefAVA annotations"),
    DataSource(
        "ava-videos", "manual", "https://research.google.com/ava/download.html", dest="refava/videos",
        size="large (per video)", tasks=("refava",),
        licence=Licence("AVA terms (annotations CC BY 4.0; videos belong to their rights holders)",
                        "https://research.google.com/ava/download.html", accept=True, terms=_AVA_TERMS,
                        short="AVA terms"),
        note="download the AVA v2.2 videos the annotations reference with the AVA download tools (CVDF "
             "mirror) into <data-root>/refava/videos/<video_id>.mkv (or extracted frames into frames/)",
        what="AVA v2.2 videos"),
)

SEGMENTATION_SOURCES = (
    DataSource(
        "fmb", "manual", "https://github.com/JinyuanLiu-CV/SegMiF", dest="FMB", size="~1.5 GB",
        tasks=("fmb",), licence=Licence("no data licence stated", "https://github.com/JinyuanLiu-CV/SegMiF", short="none stated"),
        expect=(Expect("test/Visible", count=280, pattern="*.png"), Expect("test/Infrared", count=280, pattern="*.png"),
                Expect("test/Label", count=280, pattern="*.png")),
        note="FMB is shared through the Google Drive / Baidu links of the SegMiF README: unpack it into "
             "<data-root>/FMB/ (train/ and test/ with Visible/, Infrared/, Label/)", what="FMB"),
    DataSource(
        "mfnet", "manual", "https://www.mi.t.u-tokyo.ac.jp/static/projects/mil_multispectral/", dest="MFNet",
        size="~1 GB", tasks=("mfnet",),
        licence=Licence("no licence stated (research use)",
                        "https://www.mi.t.u-tokyo.ac.jp/static/projects/mil_multispectral/", short="none stated"),
        expect=(Expect("images", count=1569, pattern="*.png"), Expect("labels", count=1569, pattern="*.png"),
                Expect("test.txt")),
        note="download RTFNet's ir_seg_dataset (link in https://github.com/yuxiangsun/RTFNet) and unpack it "
             "into <data-root>/MFNet/ (images/, labels/, the split lists)", what="MFNet (RTFNet layout)"),
    DataSource(
        "semseg-own-data", "manual", "https://github.com/open-mmlab/mmsegmentation", dest=".",
        tasks=("semseg_folder",), licence=Licence("yours (or the chosen dataset's)", short="yours"),
        note="semseg_folder evaluates an image folder and a label folder you name with "
             "--task-args images=DIR,labels=DIR", what="your segmentation data"),
)

#: benchmark family (a label for listings) -> its sources
FAMILY_SOURCES: dict[str, tuple[DataSource, ...]] = {
    "CIFAR-B": CIFAR_SOURCES,
    "COCO": COCO_SOURCES,
    "SNARE": SNARE_SOURCES,
    "MMRA": MMRA_SOURCES,
    "PixelWorld": PIXELWORLD_SOURCES,
    "MIntRec2.0": MINTREC2_SOURCES,
    "RefAVA": REFAVA_SOURCES,
    "Segmentation": SEGMENTATION_SOURCES,
}


def sources_for_task(task: str) -> tuple[DataSource, ...]:
    """The sources registered task ``task`` needs (in declaration order; empty when none is
    declared). Raises :class:`mmharness.registry.RegistryError` for an unknown task."""
    from .registry import TASKS

    if task not in TASKS.names():  # a known task's module is not imported (a plugin's may be heavy or broken)
        TASKS.get(task)  # raises the registry's error, with its did-you-mean
    return tuple(s for sources in FAMILY_SOURCES.values() for s in sources if s.applies_to(task))


def download_command(task: str) -> str:
    """The ``mmh data download`` line of a task's card (a note when nothing can be fetched)."""
    sources = sources_for_task(task)
    if not sources:
        return ""
    line = f"mmh data download {task} --data-root DIR"
    if any(s.fetchable and s.licence.accept for s in sources):
        line += " --accept-licence"
    manual = [s.name for s in sources if not s.fetchable]
    if manual and len(manual) == len(sources):
        return f"{line} (says how to get it by hand: {', '.join(manual)})"
    if manual:
        line += f" (by hand: {', '.join(manual)})"
    return line
