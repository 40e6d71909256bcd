#!/usr/bin/env python
"""Write the bundled PixelWorld demo sample in the ``TIGER-Lab/PixelWorld`` layout (generated content).

    python tools/make_pixelworld_sample.py [--out mmharness/data/samples/pixelworld]

Writes one parquet file per dataset class, ``data/<Class>-00000-of-00001.parquet`` (the per-dataset
split layout of the current card), with the official columns and features: ``ID``, ``Dataset``,
``Subset``, ``Text_Prompt``, ``Img_Prompt``, ``Image_Pathes``, ``Images`` (list of ``Image``),
``Answer``; MBPP rows also carry a non-official ``Code`` column (a correct solution, so that the
gold-answer adapters can pass the tests).

Text prompts follow the official prompt builders of ``pixel_world/data.py`` (task line, description,
fields, answer instructions, base or CoT template); the questions, passages and answers are written
for the demo, not taken from the source datasets. Pixel-mode images are the Text_Prompt rendered by
``mmharness.render.text_image`` with the ``no_random`` preset (the release uses the random preset;
no_random keeps these files small), except TableBench (the official ``table_img`` layout: the prompt
without the table, rendered around the table image of ``mmharness.render.table_image``), MathVerse
(a generated diagram), Wiki-SS QA and SlidesVQA (rendered "screenshots"/"slides"; SlidesVQA rows
have two images). TableBench Visualization rows carry a non-official ``chart_type`` column (as the
TableBench release has). Needs FreeSans (Debian package ``fonts-freefont-ttf``). Deterministic.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mmharness.render.text_image import render_text_image  # noqa: E402

BASE = "Please only provide your final answer after 'Answer:'.\nPlease use the following template:\nAnswer:[TODO]"
COT = ("Please first reason step by step, then only provide your final answer after 'Answer:'.\n"
       "Please use the following template:\nReasoning:[TODO]\nAnswer:[TODO]")
TB_BASE = ("Please only provide your final answer after 'Final Answer:'.\nPlease use the following template:\n"
           "Final Answer:[TODO]")
IMG_PROMPT = "Please answer the question in the image."


def png(img: Image.Image) -> dict:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return {"bytes": buf.getvalue(), "path": None}


def rendered(text: str, seed: int = 0) -> dict:
    """The rendering stored as a 16-level greyscale PNG (small; decodes to RGB like any image)."""
    grey = render_text_image(text, seed=seed, preset="no_random")[0].convert("L")
    return png(grey.quantize(colors=16, dither=Image.Dither.NONE))


def rendered_table(prompt: str, seed: int = 0) -> dict:
    """TableBench pixel mode as the official ``table_img`` mode builds it (16-level greyscale PNG)."""
    from mmharness.loaders.tablebench import img_prompt, split_table_prompt
    from mmharness.render.table_image import render_table_image

    tp = split_table_prompt(prompt)
    table_img, _ = render_table_image(tp.table)
    grey = render_text_image(img_prompt(tp), seed=seed, preset="no_random", embed=table_img)[0].convert("L")
    return png(grey.quantize(colors=16, dither=Image.Dither.NONE))


def gsm8k() -> list[dict]:
    qs = [("A baker makes 12 muffins per tray and bakes 4 trays. He sells 30 muffins. How many are left?", "18"),
          ("Tom reads 15 pages a day for 6 days, then 10 pages on the seventh day. How many pages did he read?",
           "100"),
          ("A pen costs 1.5 dollars. How much do 5 pens cost?", "7.5")]
    rows = []
    for i, (q, a) in enumerate(qs):
        p = ("Task: main\nThe main task requires the model to solve the given math problem and provide an answer "
             "that is either an integer or a float.\n"
             f"Question: {q}\nYour final answer must be a numerical value, either an integer or a float, and it "
             "should not include any units or additional text. Examples of valid answers: 13, 7.5.\n" + BASE)
        rows.append(dict(ID=f"GSM8K_main_{i}", Subset="main", Text_Prompt=p, Answer=a))
    return rows


def mmlu_pro() -> list[dict]:
    items = [("math", "What is 7 multiplied by 8?", ["54", "56", "58", "64", "48", "63", "72", "49", "57", "65"], "B"),
             ("math", "What is the square root of 81?", ["7", "8", "9", "10", "11", "6", "12", "3", "27", "18"], "C"),
             ("history", "In which year did the First World War begin?",
              ["1905", "1910", "1912", "1914", "1916", "1918", "1920", "1939", "1899", "1945"], "D")]
    rows = []
    for i, (cat, q, opts, a) in enumerate(items):
        choices = "\n".join(f"{chr(65 + k)}. {o}" for k, o in enumerate(opts))
        p = (f"Task: {cat}\nThe {cat} task requires the model to select the most appropriate choice "
             f"(A, B, C, D, E, F, G, H, I or J) for a given question.\nQuestion: {q}\nChoices:\n{choices}\n"
             "Your final answer must be exactly one of: 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', or 'J'.\n" + COT)
        rows.append(dict(ID=f"MMLU-Pro_{cat}_{i}", Subset=cat, Text_Prompt=p, Answer=a))
    return rows


def arc() -> list[dict]:
    items = [("ARC-Easy", "Which of these is a source of light?", ["A", "B", "C", "D"],
              ["a mirror", "the Sun", "the Moon", "a window"], "B"),
             ("ARC-Easy", "What do plants need to make food?", ["A", "B", "C", "D"],
              ["sunlight", "sand", "salt", "plastic"], "A"),
             ("ARC-Challenge", "Which property of a mineral can be determined just by looking at it?",
              ["1", "2", "3", "4"], ["luster", "mass", "weight", "hardness"], "1")]
    rows = []
    for i, (sub, q, labels, texts, a) in enumerate(items):
        choice_text = ", ".join(labels[:-1]) + " or " + labels[-1]
        instr = ", ".join(f"'{c}'" for c in labels[:-1]) + f" or '{labels[-1]}'"
        choices = "\n".join(f"{labels[k]}. {t}" for k, t in enumerate(texts))
        p = (f"Task: {sub}\nThe {sub} task requires the model to select the most appropriate choice ({choice_text}) "
             f"for a given question.\nQuestion: {q}\nChoices:\n{choices}\n"
             f"Your final answer must be exactly one of: {instr}.\n" + BASE)
        rows.append(dict(ID=f"ARC_{sub}_{i}", Subset=sub, Text_Prompt=p, Answer=a))
    return rows


def glue() -> list[dict]:
    def cola(s):
        return ("Task: CoLA\nThe CoLA (Corpus of Linguistic Acceptability) task requires the model to decide "
                "whether a given sentence is grammatically acceptable or not.\n"
                f"Sentence: {s}\nYour final answer must be exactly 'Acceptable' or 'Unacceptable'.\n" + BASE)

    def sst2(s):
        return ("Task: SST-2\nThe SST-2 (Stanford Sentiment Treebank) task requires the model to classify a sentence "
                "as having a positive or negative sentiment.\n"
                f"Sentence: {s}\nYour final answer must be exactly 'Positive' or 'Negative'.\n" + BASE)

    def mrpc(a, b):
        return ("Task: MRPC\nThe MRPC (Microsoft Research Paraphrase Corpus) task requires the model to determine "
                "whether two sentences are paraphrases of each other.\n"
                f"Sentence 1: {a}\nSentence 2: {b}\nYour final answer must be exactly 'Paraphrase' or "
                "'Not Paraphrase'.\n" + BASE)

    def stsb(a, b):
        return ("Task: STS-B\nThe STS-B (Semantic Textual Similarity Benchmark) task requires the model to assign "
                "a similarity score (floating point) between 0 and 5 for two given sentences.\n"
                f"Sentence 1: {a}\nSentence 2: {b}\nYour final answer must be a floating point number between "
                "0.0 and 5.0.\n" + BASE)

    def mnli(a, b):
        return ("Task: MNLI\nThe MNLI (Multi-Genre Natural Language Inference) task requires the model to predict "
                "whether a premise entails, contradicts, or is neutral toward a given hypothesis.\n"
                f"Premise: {a}\nHypothesis: {b}\nYour final answer must be one of: 'Entailment', "
                "'Contradiction', or 'Neutral'.\n" + BASE)

    data = [
        ("cola", cola("The cat sat on the mat."), "1"), ("cola", cola("Mat the on sat cat the."), "0"),
        ("sst2", sst2("A warm and funny film."), "1"), ("sst2", sst2("Dull, slow and far too long."), "0"),
        ("mrpc", mrpc("The shop opens at nine.", "The store opens at 9 am."), "1"),
        ("mrpc", mrpc("He bought a red car.", "She sold her old bike."), "0"),
        ("stsb", stsb("A man is playing a guitar.", "A man plays the guitar."), "4.800000190734863"),
        ("stsb", stsb("A dog runs in a park.", "A child eats an apple."), "0.4000000059604645"),
        ("stsb", stsb("Two women are talking.", "Two people are chatting."), "3.200000047683716"),
        ("mnli", mnli("All the birds flew away.", "No birds are left."), "0"),
        ("mnli", mnli("The concert starts at eight.", "The concert was cancelled."), "2"),
    ]
    return [dict(ID=f"GLUE_{t}_{i}", Subset=t, Text_Prompt=p, Answer=a) for i, (t, p, a) in enumerate(data)]


def superglue() -> list[dict]:
    def boolq(q, passage):
        return ("Task: BoolQ\nThe BoolQ task requires the model to answer a yes/no question based on a given passage.\n"
                f"Question: {q}\nPassage: {passage}\nYour final answer must be exactly 'True' or 'False'.\n" + BASE)

    def cb(prem, hyp):
        return ("Task: CommitmentBank (CB)\nThe CommitmentBank (CB) task asks the model to determine whether a given "
                "hypothesis is 'Entailment', 'Contradiction', or 'Neutral' based on a provided premise.\n"
                f"Text: {prem}\nHypothesis: {hyp}\nYour final answer must be one of: 'Entailment', "
                "'Contradiction', or 'Neutral'.\n" + BASE)

    def copa(prem, cause, c1, c2):
        q = "What is the cause?" if cause else "What is the effect?"
        return ("Task: Choice of Plausible Alternatives (COPA)\nThe Choice of Plausible Alternatives (COPA) task asks "
                "the model to choose between two options (1 or 2) to identify the most plausible cause or effect of "
                f"a given premise.\nPremise: {prem}\n{q}\nOption 1: {c1}\nOption 2: {c2}\n"
                "Your final answer must be exactly '1' or '2'.\n" + BASE)

    def multirc(par, q, ans):
        return ("Task: Multi-Sentence Reading Comprehension (MultiRC)\nThe Multi-Sentence Reading Comprehension "
                "(MultiRC) task requires the model to evaluate whether a candidate answer to a question is correct "
                f"based on a provided paragraph.\nParagraph: {par}\nQuestion: {q}\nCandidate Answer: {ans}\n"
                "Your final answer must be exactly 'True' or 'False'.\n" + BASE)

    def record(passage, query):
        return ("Task: ReCoRD\nThe Reading Comprehension with Commonsense Reasoning Dataset (ReCoRD) task requires the "
                "model to predict an open-ended answer to a query based on a provided passage.\n"
                f"Passage: {passage}\nQuery: {query}\nYour final answer can be an open-ended string (no length "
                "limit).\n" + BASE)

    def wic(s1, s2, w):
        return ("Task: Words in Context (WiC)\nThe Words in Context (WiC) task requires the model to determine if a "
                "given word is used with the same meaning in two different sentences.\n"
                f"Sentence 1: {s1}\nSentence 2: {s2}\nWord: {w}\nYour final answer must be exactly 'Yes' or "
                "'No'.\n" + BASE)

    par = "Mia planted tomatoes in May. By August the plants were taller than her brother Sam."
    data = [
        ("boolq", boolq("is the sun a star", "The Sun is the star at the centre of the Solar System."), "1"),
        ("boolq", boolq("do penguins fly", "Penguins are flightless birds that swim well."), "0"),
        ("cb", cb("Anna said the train was late again.", "The train was late."), "0"),
        ("cb", cb("I doubt that he will come.", "He will certainly come."), "1"),
        ("copa", copa("The glass fell off the table.", False, "It shattered.", "It sang."), "0"),
        ("copa", copa("The girl was thirsty.", True, "She ran a race.", "She read a poem."), "0"),
        ("multirc", multirc(par, "What did Mia plant?", "Tomatoes"), "1"),
        ("multirc", multirc(par, "What did Mia plant?", "Potatoes"), "0"),
        ("multirc", multirc(par, "Who is Sam?", "Mia's brother"), "1"),
        ("record", record("Lena Park won the city marathon on Sunday, beating last year's winner.",
                          "@placeholder crossed the finish line first."), "['Lena Park', 'Park']"),
        ("record", record("The museum in Oslo reopened after a long renovation.",
                          "Visitors returned to the museum in @placeholder."), "['Oslo']"),
        ("wic", wic("He sat on the bank of the river.", "The bank raised its interest rates.", "bank"), "0"),
        ("wic", wic("She will run the meeting.", "He runs the company.", "run"), "1"),
    ]
    return [dict(ID=f"SuperGLUE_{t}_{i}", Subset=t, Text_Prompt=p, Answer=a) for i, (t, p, a) in enumerate(data)]


def mbpp() -> list[dict]:
    items = [("full", "Write a function to find the maximum of two numbers.",
              ["assert max_of_two(3, 5) == 5", "assert max_of_two(-1, -4) == -1", "assert max_of_two(7, 7) == 7"],
              "def max_of_two(a, b):\n    return a if a >= b else b"),
             ("sanitized", "Write a python function to reverse a string.",
              ["assert reverse_string('abc') == 'cba'", "assert reverse_string('') == ''"],
              "def reverse_string(s):\n    return s[::-1]")]
    rows = []
    for i, (sub, text, tests, code) in enumerate(items):
        p = (f"Below is a Python problem:\n{text}\nTo validate your solution, we will run these tests:\n"
             + "\n".join(tests) + "\nPlease write a Python function that solves the above problem.\n" + BASE)
        rows.append(dict(ID=f"MBPP_{sub}_{i}", Subset=sub, Text_Prompt=p, Answer=str(tests), Code=code))
    return rows


#: modelled on TableBench's Visualization instruction (DP): guidelines, code format, then the table
TB_VIZ = ("You are a data analyst proficient in Python. Your task is to write executable Python code to analyze "
          "the table and then answer questions.\n\n[Guidelines]\nYou should act following requirements below:\n"
          "1. based on the question, write out your analytical approach, and then write Python code according to "
          "this approach.\n2. The code needs to be concise and easy to understand, and if necessary, add comments "
          "for clarification.\n3. Code blocks need to strictly start with ```python and end with ```\n"
          "4. Your analysis must be based entirely on the above data. If the user's question is not related to "
          "data analysis, please politely refuse.\n5. You need to generate executable code. If there are results to "
          "be presented, please use the print function; if there are charts, please use the matplotlib library to "
          "draw them.\n6. Ensure to load the table with command ```df = pd.read_csv('table.csv')```\n\n\n"
          "The generated Python code should follow the format below, and ensure the first three code lines is "
          "exactly the same with the following code block:\n[Python Code Format]\n```python\nimport pandas as pd \n"
          "import matplotlib.pyplot as plt\ndf = pd.read_csv('table.csv')\n...\nplt.show()\n```\n\n"
          "Ensure the final answer is the last line in python code and can only be in the \"plt.show()\" form, no "
          "other form. \n\nLet's think step by step and then generate python code to analyze table and present the "
          "final answer to the question.\n\n")


def tablebench() -> list[dict]:
    table = {"columns": ["city", "population", "area"], "data": [["Avon", 1200, 3.5], ["Brill", 5400, 7.1],
                                                                  ["Cove", 800, 2.2]]}
    items = [("FactChecking", "Does Brill have the largest population?", "Yes", None),
             ("NumericalReasoning", "What is the total population of the three cities?", "7400", None),
             ("DataAnalysis", "Which city has the most area per inhabitant?", "Avon", None),
             ("Visualization", "Please help me draw a bar chart showing the population of each city.",
              "y_references = [[1200, 5400, 800]]", "bar"),
             ("Visualization", "Please help me draw a bar chart showing the area of each city.",
              "y_references = [[3.5, 7.1, 2.2]]", "bar")]
    rows = []
    for i, (sub, q, a, chart) in enumerate(items):
        body = (f"Read the table below in JSON format:\n[TABLE] \n{json.dumps(table)}\n\nLet's get start!\n"
                f"Question: {q}\n")
        if sub == "Visualization":  # the TableBench instruction as PixelWorld sends it (no template added)
            p = TB_VIZ + body
        else:
            p = ("You are a table analyst. Your task is to answer questions based on the table content.\n\n"
                 + body + TB_BASE)
        row = dict(ID=f"TableBench_{sub}_{i}", Subset=sub, Text_Prompt=p, Answer=a, image=rendered_table(p))
        if chart:
            row["chart_type"] = chart
        rows.append(row)
    return rows


def diagram(kind: int) -> Image.Image:
    im = Image.new("RGB", (160, 120), "white")
    d = ImageDraw.Draw(im)
    if kind == 0:
        d.polygon([(20, 100), (140, 100), (20, 20)], outline="black", width=2)
        d.text((70, 104), "4", fill="black")
        d.text((8, 55), "3", fill="black")
    else:
        d.ellipse((30, 10, 130, 110), outline="black", width=2)
        d.line((80, 60, 130, 60), fill="black", width=2)
        d.text((100, 48), "r=2", fill="black")
    return im


def mathverse() -> list[dict]:
    items = [("As shown in the figure, the legs of the right triangle are 3 and 4. What is the hypotenuse?\n"
              "Choices:\nA:5\nB:6\nC:7\nD:12", "A", 0),
             ("As shown in the figure, the radius of the circle is 2. What is its diameter?\n"
              "Choices:\nA:2\nB:4\nC:6\nD:8", "B", 1)]
    rows = []
    for i, (q, a, kind) in enumerate(items):
        p = ("Please first conduct reasoning, and then answer the question and provide the correct option letter, "
             f"e.g., A, B, C, D, at the end.\nQuestion: {q}")
        rows.append(dict(ID=f"Mathverse_main_{i}", Subset="main", Text_Prompt=p, Answer=a, image=png(diagram(kind))))
    return rows


def doc_qa(cls: str) -> list[dict]:
    multi = cls == "SlidesVQA"
    items = [("Which river flows through the town of Elmford?", "the Alder", [
        "Elmford is a small town on the banks of the Alder river, founded in 1820.",
        "The town hall of Elmford was rebuilt in 1901 after a fire."]),
        ("How many people live in Elmford?", "4,500", [
            "Elmford has about 4,500 inhabitants, most of them working in farming.",
            "The main crops around Elmford are barley and potatoes."])]
    rows = []
    for i, (q, a, refs) in enumerate(items):
        refs = refs if multi else refs[:1]
        if multi:
            ref_text = "".join(f"{k}. {r}\n" for k, r in enumerate(refs))
            text_p = ("You are tasked with answering a question based on the provided text reference. Use the reference "
                      f"to support your answer.\n\nReferences: \n{ref_text}\n\nQuestion: {q}\n\nAnswer the question "
                      "based on the text reference." + BASE)
            img_p = ("You are tasked with answering a question based on the provided images. For detailed information, "
                     f"refer to the given image.\n\nQuestion: {q}\n\nAnswer the question based on the image provided."
                     + BASE)
        else:
            text_p = ("You are tasked with answering a question based on the provided text reference. Use the reference "
                      f"to support your answer.\n\nReferences: {refs}\n\nQuestion: {q}\n\nAnswer the question based on "
                      "the text reference." + BASE)
            img_p = ("You are tasked with answering a question based on the provided image. For detailed information, "
                     f"refer to the given image.\n\nQuestion: {q}\n\nAnswer the question based on the image provided."
                     + BASE)
        images = [rendered(r, seed=k) for k, r in enumerate(refs)]
        rows.append(dict(ID=f"{cls}_main_{i}", Subset="main", Text_Prompt=text_p, Img_Prompt=img_p, Answer=a,
                         images=images))
    return rows


BUILDERS = {"GSM8KDataset": gsm8k, "MMLUProDataset": mmlu_pro, "ARCDataset": arc, "GLUEDataset": glue,
            "SuperGLUEDataset": superglue, "MBPPDataset": mbpp, "TableBenchDataset": tablebench,
            "MathverseDataset": mathverse, "SlidesVQADataset": lambda: doc_qa("SlidesVQA"),
            "WikiSS_QADataset": lambda: doc_qa("WikiSS_QA")}


#: non-official columns some rows carry
EXTRA_COLUMNS = ("Code", "chart_type")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "mmharness" / "data" / "samples" / "pixelworld")
    args = ap.parse_args()
    import datasets

    feats = {"ID": datasets.Value("string"), "Dataset": datasets.Value("string"),
             "Subset": datasets.Value("string"), "Text_Prompt": datasets.Value("string"),
             "Img_Prompt": datasets.Value("string"), "Image_Pathes": datasets.Sequence(datasets.Value("string")),
             "Images": datasets.Sequence(datasets.Image()), "Answer": datasets.Value("string")}
    (args.out / "data").mkdir(parents=True, exist_ok=True)
    total = 0
    for cls, build in BUILDERS.items():
        rows = []
        for r in build():
            if "images" in r:
                images = r.pop("images")
            elif "image" in r:
                images = [r.pop("image")]
            else:
                images = [rendered(r["Text_Prompt"])]
            row = {"ID": r["ID"], "Dataset": cls, "Subset": r["Subset"], "Text_Prompt": r["Text_Prompt"],
                   "Img_Prompt": r.get("Img_Prompt", IMG_PROMPT),
                   "Image_Pathes": [f"image_cache/{cls}/{r['ID']}_{k}.png" for k in range(len(images))],
                   "Images": images, "Answer": r["Answer"]}
            for extra in EXTRA_COLUMNS:
                if extra in r:
                    row[extra] = r[extra]
            rows.append(row)
        f = dict(feats)
        for extra in EXTRA_COLUMNS:
            if any(extra in r for r in rows):
                f[extra] = datasets.Value("string")
                for r in rows:
                    r.setdefault(extra, None)
        ds = datasets.Dataset.from_list(rows, features=datasets.Features(f))
        dest = args.out / "data" / f"{cls}-00000-of-00001.parquet"
        ds.to_parquet(str(dest))
        total += len(rows)
        print(f"{cls}: {len(rows)} rows -> {dest.name} ({dest.stat().st_size // 1024} KiB)")
    print(f"{total} rows")


if __name__ == "__main__":
    main()
