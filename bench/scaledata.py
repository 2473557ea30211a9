"""Deterministic, realistic test data for the scale and growth benchmarks.

Papers are written from a vocabulary of the field (vision, language, multimodal models,
efficiency, robotics, ...): each has a main topic and one or two side topics, a title in one of
the shapes real titles take (`Name: Adjective Method for Task`, `Towards ...`, `... via ...`)
and an abstract of six to nine sentences that use the topics' terms the way abstracts do (the
problem, what existing work lacks, the proposal, its parts, the experiments). Topic popularity
is skewed (Zipf), as it is in real listings: a few topics are in many papers, most in few.

Profiles are as varied as real subscribers' files: keyword lists, boolean queries with OR
groups, NOT and phrases, example papers (`like`), exclusions, synonyms, and mixtures of these.

Everything is a function of the seed, so two runs of a benchmark see the same data.
"""

from __future__ import annotations

import random
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# topic -> its terms (the first few are the ones people subscribe to) and its tasks.
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hallucination": (("hallucination", "object hallucination", "faithfulness",
                       "language prior", "visual evidence", "factual consistency"),
                      ("hallucination mitigation", "faithful captioning")),
    "vlm": (("vision-language model", "VLM", "multimodal large language model", "MLLM",
             "visual instruction tuning", "image-text alignment"),
            ("visual question answering", "image captioning", "multimodal reasoning")),
    "llm-efficiency": (("quantization", "KV cache", "speculative decoding", "low-bit",
                        "pruning", "offloading", "throughput"),
                       ("efficient inference", "LLM serving", "model compression")),
    "long-context": (("long context", "context window", "positional encoding",
                      "sparse attention", "retrieval heads"),
                     ("long-context modeling", "needle-in-a-haystack retrieval")),
    "rag": (("retrieval-augmented generation", "RAG", "dense retrieval", "reranking",
             "knowledge base", "query rewriting"),
            ("open-domain question answering", "knowledge-intensive generation")),
    "reasoning": (("chain-of-thought", "mathematical reasoning", "process reward model",
                   "self-consistency", "test-time compute", "verifier"),
                  ("math word problems", "multi-step reasoning")),
    "rlhf": (("reinforcement learning from human feedback", "RLHF", "preference optimization",
              "DPO", "reward model", "alignment"),
             ("preference alignment", "instruction following")),
    "agents": (("LLM agent", "tool use", "web agent", "planning", "GUI agent",
                "function calling"),
               ("web navigation", "autonomous task completion")),
    "code": (("code generation", "program synthesis", "code LLM", "unit tests",
              "repository-level"),
             ("code completion", "automated program repair")),
    "diffusion": (("diffusion model", "text-to-image", "denoising", "latent diffusion",
                   "classifier-free guidance", "image editing"),
                  ("image generation", "controllable generation")),
    "video": (("video generation", "video understanding", "temporal consistency",
               "video diffusion", "text-to-video"),
              ("video question answering", "long video understanding")),
    "3d": (("3D reconstruction", "neural radiance field", "NeRF", "Gaussian splatting",
            "novel view synthesis", "point cloud"),
           ("scene reconstruction", "3D generation")),
    "robotics": (("robot", "embodied", "manipulation", "locomotion",
                  "vision-language-action", "sim-to-real", "policy learning"),
                 ("robotic manipulation", "embodied navigation")),
    "driving": (("autonomous driving", "motion planning", "trajectory prediction",
                 "bird's-eye view", "occupancy"),
                ("end-to-end driving", "scene forecasting")),
    "speech": (("speech", "text-to-speech", "speech recognition", "audio codec",
                "spoken language model"),
               ("speech synthesis", "spoken dialogue")),
    "ocr": (("OCR", "document parsing", "chart", "table recognition", "layout",
             "optical character recognition"),
            ("document understanding", "chart question answering")),
    "medical": (("medical imaging", "radiology", "clinical", "pathology", "medical"),
                ("report generation", "diagnosis")),
    "segmentation": (("segmentation", "referring expression", "visual grounding",
                      "open-vocabulary", "instance segmentation"),
                     ("referring segmentation", "open-vocabulary detection")),
    "safety": (("jailbreak", "red teaming", "safety alignment", "adversarial attack",
                "harmful content"),
               ("jailbreak defense", "safety evaluation")),
    "benchmark": (("benchmark", "evaluation", "leaderboard", "human evaluation",
                   "data contamination"),
                  ("model evaluation", "benchmark construction")),
    "moe": (("mixture of experts", "MoE", "expert routing", "load balancing",
             "sparse activation"),
            ("scaling language models", "efficient pre-training")),
    "tokenization": (("tokenizer", "byte-level", "vocabulary", "subword"),
                     ("multilingual modeling", "tokenization")),
    "continual": (("continual learning", "catastrophic forgetting", "replay",
                   "model merging"),
                  ("lifelong learning", "knowledge editing")),
    "graph": (("graph neural network", "GNN", "message passing", "knowledge graph"),
              ("link prediction", "molecular property prediction")),
    "federated": (("federated learning", "differential privacy", "privacy", "unlearning"),
                  ("private training", "machine unlearning")),
    "time-series": (("time series", "forecasting", "anomaly detection", "temporal"),
                    ("long-horizon forecasting", "anomaly detection")),
    "distillation": (("knowledge distillation", "distillation", "student model",
                      "teacher model", "synthetic data"),
                     ("model distillation", "data synthesis")),
    "ssl": (("self-supervised learning", "contrastive learning", "masked autoencoder",
             "representation learning", "pre-training"),
            ("visual representation learning", "linear probing")),
}
ADJECTIVES = ("Efficient", "Scalable", "Robust", "Unified", "Adaptive", "Training-Free",
              "Hierarchical", "Lightweight", "Generalizable", "Interpretable", "Fine-Grained",
              "Zero-Shot", "Self-Supervised", "Reliable", "Fast", "Compositional")
METHODS = ("Framework", "Approach", "Benchmark", "Model", "Pipeline", "Method", "Dataset",
           "Architecture", "Recipe", "Toolkit")
SYLLABLES = ("vi", "sta", "co", "in", "lu", "ma", "ra", "ze", "to", "qua", "ne", "mo", "ri",
             "ka", "sol", "tri", "pix", "gen", "dra", "fo", "lex", "ny", "pro", "sy", "nex")
SUFFIXES = ("LLM", "VLM", "Net", "Bench", "GPT", "Former", "Agent", "", "", "", "-R1", "-X")
GENERIC = ("large language models", "deep neural networks", "transformers",
           "foundation models", "multimodal models", "generative models")
LIMITS = ("struggle to generalize beyond their training distribution",
          "require expensive human annotation", "incur prohibitive computational cost",
          "ignore fine-grained {t} cues", "fail to capture long-range dependencies",
          "rely on heuristics that do not transfer across domains",
          "are evaluated on narrow benchmarks that overestimate progress")
BENCHES = ("MMBench", "GSM8K", "MATH", "HumanEval", "COCO", "ImageNet", "nuScenes", "LIBERO",
           "ScanNet", "DocVQA", "ChartQA", "POPE", "MMLU", "LongBench", "WebArena", "AIME")


@dataclass(frozen=True)
class Paper:
    title: str
    abstract: str
    topics: tuple[str, ...]


class Generator:
    """Papers and profiles from one seed."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.topics = list(TOPICS)
        # Zipf-like popularity: the k-th topic is 1/k^0.9 as likely as the first.
        self.weights = [1.0 / (k + 1) ** 0.9 for k in range(len(self.topics))]
        self.serial = 0

    # -- papers ----------------------------------------------------------------------------
    def name(self) -> str:
        rng = self.rng
        self.serial += 1
        # A serial number in base len(SYLLABLES) keeps every generated name distinct.
        n, parts = self.serial, []
        while n:
            n, digit = divmod(n, len(SYLLABLES))
            parts.append(SYLLABLES[digit])
        word = "".join(parts).capitalize()
        return word + rng.choice(SUFFIXES)

    def pick_topics(self) -> tuple[str, ...]:
        rng = self.rng
        main = rng.choices(self.topics, self.weights)[0]
        side = rng.sample([t for t in self.topics if t != main], rng.choice((1, 1, 2)))
        return (main, *side)

    def paper(self) -> Paper:
        rng = self.rng
        topics = self.pick_topics()
        terms, tasks = TOPICS[topics[0]]
        side_terms = [t for topic in topics[1:] for t in TOPICS[topic][0]]
        name = self.name()
        term, task = rng.choice(terms), rng.choice(tasks)
        shapes = (
            f"{name}: {rng.choice(ADJECTIVES)} {term.title() if term.islower() else term} "
            f"{rng.choice(METHODS)} for {task.title()}",
            f"Towards {rng.choice(ADJECTIVES)} {task.title()} via {term.title()}",
            f"{name}: {rng.choice(ADJECTIVES)} {task.title()} with {rng.choice(side_terms)}",
            f"{name}: Rethinking {term.title()} in {rng.choice(GENERIC).title()}",
            f"{name}: A {rng.choice(METHODS)} for {term} and {rng.choice(side_terms)}",
        )
        title = rng.choice(shapes)
        if not title.startswith(name):
            title = f"{name}: {title}"
        return Paper(title, self.abstract(name, topics), topics)

    def abstract(self, name: str, topics: tuple[str, ...]) -> str:
        rng = self.rng
        terms, tasks = TOPICS[topics[0]]
        side = [t for topic in topics[1:] for t in TOPICS[topic][0]]
        t1, t2, t3 = rng.sample(terms, 3) if len(terms) >= 3 else (terms * 3)[:3]
        task = rng.choice(tasks)
        limit = rng.choice(LIMITS).format(t=rng.choice(side))
        sentences = [
            f"{rng.choice(GENERIC).capitalize()} have made rapid progress on {task}, yet "
            f"{t1} remains a central challenge.",
            f"However, existing approaches to {t2} {limit}.",
            f"In this paper, we propose {name}, a {rng.choice(ADJECTIVES).lower()} "
            f"{rng.choice(METHODS).lower()} that combines {t1} with {rng.choice(side)}.",
            f"{name} introduces a {rng.choice(ADJECTIVES).lower()} module for {t3} and a "
            f"training objective that encourages {rng.choice(side)}.",
            f"We further construct a dataset of {rng.randint(2, 900)}K examples covering "
            f"{task} and {rng.choice(TOPICS[rng.choice(topics)][1])}.",
            f"Extensive experiments on {rng.choice(BENCHES)} and {rng.choice(BENCHES)} show "
            f"that {name} improves over strong baselines by "
            f"{rng.randint(2, 19)}.{rng.randint(0, 9)}% while reducing cost by "
            f"{rng.randint(2, 9)}x.",
        ]
        extras = [
            f"Our analysis reveals that {t2} and {rng.choice(side)} interact in ways that prior "
            "work has overlooked.",
            f"We also show that {t1} transfers to {rng.choice(TOPICS[rng.choice(topics)][1])}.",
            f"Ablations confirm that each component of {name} contributes to the gains.",
            "Code and models will be released.",
        ]
        sentences += rng.sample(extras, rng.randint(0, 3))
        return " ".join(sentences)

    def papers(self, n: int) -> Iterator[Paper]:
        for _ in range(n):
            yield self.paper()

    # -- profiles --------------------------------------------------------------------------
    def profile(self, index: int, example_titles: list[str]) -> dict[str, object]:
        """One subscriber file's content as a dict (see `toml`)."""
        rng = self.rng
        topics = rng.sample(self.topics, rng.choice((1, 1, 2, 2, 3)))
        pool = [t for topic in topics for t in TOPICS[topic][0]]
        kind = rng.choices(("keywords", "query", "examples", "mixed"), (40, 30, 15, 15))[0]
        interests: dict[str, object] = {}
        if kind in ("keywords", "mixed"):
            interests["keywords"] = rng.sample(pool, min(len(pool), rng.randint(1, 6)))
        if kind in ("query", "mixed"):
            interests["query"] = self.query(topics)
        if kind in ("examples", "mixed") and example_titles:
            interests["like"] = rng.sample(example_titles, rng.randint(1, 3))
        if kind == "mixed" or rng.random() < 0.2:
            other = rng.choice([t for t in self.topics if t not in topics])
            interests["exclude"] = [rng.choice(TOPICS[other][0])]
            if rng.random() < 0.3:
                interests["exclude_mode"] = "demote"
        if kind == "mixed" and rng.random() < 0.5:
            interests["phrases"] = [rng.choice(TOPICS[topics[0]][1])]
        if rng.random() < 0.1:
            interests["synonyms"] = {"VLM": ["vision-language model"]}
        return {"name": f"Subscriber {index}", "email": f"s{index}@example.org",
                "deliver": ["email"] if rng.random() < 0.8 else ["email", "markdown"],
                "max_items": rng.choice((5, 10, 15, 20, 30)),
                "min_score": rng.choice((0.2, 0.2, 0.3, 0.4)),
                "backfill": "7d", "interests": interests}

    def query(self, topics: list[str]) -> str:
        rng = self.rng
        groups = []
        for topic in topics[:2]:
            terms = rng.sample(TOPICS[topic][0], min(3, len(TOPICS[topic][0])))
            groups.append("(" + " OR ".join(_q(t) for t in terms) + ")")
        query = " AND ".join(groups) if rng.random() < 0.6 or len(groups) == 1 \
            else " OR ".join(groups)
        if rng.random() < 0.4:
            other = rng.choice([t for t in self.topics if t not in topics])
            query += f" AND NOT {_q(rng.choice(TOPICS[other][0]))}"
        return query


def load_profiles(gen: Generator, count: int, example_titles: list[str]) -> list[Any]:
    """`count` generated profiles as worker.profiles reads a subscriber's file: each written
    as TOML and loaded (the benches that match in memory, without a config directory)."""
    from worker.profiles import load_profile

    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            path = Path(tmp) / f"s{i:05d}.toml"
            path.write_text(toml(gen.profile(i, example_titles)), encoding="utf-8")
            profile, problems, _ = load_profile(path)
            if profile is None:
                sys.exit(f"{path}: {problems}")
            found.append(profile)
    return found


def _q(term: str) -> str:
    return f'"{term}"' if " " in term or "'" in term else term


def toml(profile: dict[str, object]) -> str:
    """A subscriber file from `Generator.profile` (only the value types used there)."""
    lines, tables = [], []
    for key, value in profile.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, table in tables:
        lines.append(f"\n[{key}]")
        for sub, value in table.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{_value(k)} = {_value(v)}" for k, v in value.items())
                lines.append(f"{sub} = {{ {inner} }}")
            else:
                lines.append(f"{sub} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def dump_text(papers: list[Paper], header_date: str) -> str:
    """A dump in the seed format: the header blocks, then title and abstract blocks."""
    head = ["new", "Get trending papers in your email inbox!", "Subscribe",
            "byAK and the research community", header_date]
    body = [part for p in papers for part in (p.title, p.abstract)]
    return "\n\n".join(head + body) + "\n"
