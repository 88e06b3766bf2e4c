"""`scenes`: the embedded default dataset, generated deterministically from a seed.

Each item is a real PNG of 1-4 objects (8 shapes, 8 colours, 3 sizes, 3 textures, on plain,
gradient or cluttered backgrounds) and real English text about it: a document of one sentence per
object (synonyms, varied word order, distractor and negated sentences, some objects left out),
and a tag list. Labels: the shapes present (multi-label); category: the shape of the largest
object. Units: the sentences, the tags and the ground-truth object boxes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pydantic import Field

from ..spec.models import DatasetSpec, Seed
from .base import (DATASETS, DatasetParams, DatasetSource, Item, LoadedDataset, Unit,
                   check_params)

SHAPES = ["circle", "square", "triangle", "star", "hexagon", "cross", "diamond", "crescent"]
SHAPE_WORDS = {
    "circle": ["circle", "disc", "round shape"],
    "square": ["square", "box", "block"],
    "triangle": ["triangle", "wedge", "three-sided shape"],
    "star": ["star", "five-pointed star", "starburst"],
    "hexagon": ["hexagon", "six-sided shape", "honeycomb cell"],
    "cross": ["cross", "plus sign", "plus shape"],
    "diamond": ["diamond", "rhombus", "lozenge"],
    "crescent": ["crescent", "moon shape", "sickle"],
}
COLOURS = {
    "red": (200, 30, 30), "green": (40, 160, 50), "blue": (40, 70, 200), "yellow": (230, 200, 40),
    "purple": (130, 50, 170), "orange": (240, 130, 20), "white": (240, 240, 240),
    "black": (25, 25, 25),
}
COLOUR_WORDS = {
    "red": ["red", "crimson", "scarlet"], "green": ["green", "emerald", "lime"],
    "blue": ["blue", "navy", "azure"], "yellow": ["yellow", "golden", "lemon"],
    "purple": ["purple", "violet", "lilac"], "orange": ["orange", "amber", "tangerine"],
    "white": ["white", "ivory", "pale"], "black": ["black", "dark", "charcoal"],
}
SIZES = {"small": (0.08, 0.12), "medium": (0.13, 0.18), "large": (0.19, 0.26)}
SIZE_WORDS = {"small": ["small", "tiny", "little"], "medium": ["medium-sized", "mid-sized",
              "modest"], "large": ["large", "big", "huge"]}
TEXTURES = {"solid": ["plain", "solid", "flat"], "striped": ["striped", "banded"],
            "dotted": ["dotted", "spotted"]}
BACKGROUNDS = {"plain": ["plain and grainy", "a flat colour"], "gradient": ["a smooth gradient",
               "a colour fade"], "clutter": ["covered in thin lines", "busy with scribbles"]}
TEMPLATES = [
    "There is a {size} {colour} {shape} {pos}.",
    "{Pos}, a {texture} {shape} in {colour} can be seen.",
    "A {colour} {shape}, {size}, sits {pos}.",
    "The {size} {shape} is {colour}.",
    "You can spot a {texture} {colour} {shape} {pos}.",
    "{Pos} lies a {size} {shape}.",
]
FILLERS = ["This is a simple drawing.", "Nothing else is going on in the picture.",
           "The image looks a little blurry.", "Someone made this picture quickly.",
           "The colours are quite bright.", "It could be a page from a children's book."]
NOISE_TAGS = ["art", "drawing", "geometry", "shapes", "abstract", "colourful", "pattern",
              "minimal", "sketch", "toy"]


def _position(cx: float, cy: float) -> str:
    v = "top" if cy < 0.36 else ("bottom" if cy > 0.64 else "middle")
    h = "left" if cx < 0.36 else ("right" if cx > 0.64 else "centre")
    if v == "middle" and h == "centre":
        return "in the centre"
    if v == "middle":
        return f"on the {h}"
    if h == "centre":
        return f"at the {v}"
    return f"in the {v} {h}"


def _shape_mask(shape: str, size: int, cx: float, cy: float, r: float, angle: float) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask)

    def poly(points: list[tuple[float, float]]) -> None:
        ca, sa = math.cos(angle), math.sin(angle)
        d.polygon([(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in points], fill=255)

    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "crescent":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        o = 0.45 * r
        d.ellipse([cx - r + o, cy - r - o * 0.3, cx + r + o, cy + r - o * 0.3], fill=0)
    elif shape == "square":
        poly([(-r * .85, -r * .85), (r * .85, -r * .85), (r * .85, r * .85), (-r * .85, r * .85)])
    elif shape == "diamond":
        poly([(0, -r), (r * .65, 0), (0, r), (-r * .65, 0)])
    elif shape == "triangle":
        poly([(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
    elif shape == "hexagon":
        poly([(r * math.cos(k * math.pi / 3), r * math.sin(k * math.pi / 3)) for k in range(6)])
    elif shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.42
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((rad * math.cos(a), rad * math.sin(a)))
        poly(pts)
    elif shape == "cross":
        w = r * 0.33
        poly([(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w),
              (-r, w), (-r, -w), (-w, -w)])
    else:  # pragma: no cover - SHAPES is closed
        raise ValueError(shape)
    return mask


def _fill(size: int, colour: tuple[int, int, int], texture: str, rng: np.random.Generator) -> Image.Image:
    base = np.empty((size, size, 3), np.float32)
    base[:] = colour
    if texture != "solid":
        yy, xx = np.mgrid[0:size, 0:size]
        period = rng.integers(4, 8)
        if texture == "striped":
            a = rng.uniform(0, math.pi)
            on = (np.floor((xx * math.cos(a) + yy * math.sin(a)) / period) % 2) == 0
        else:
            on = ((xx % period) < period / 2) & ((yy % period) < period / 2)
        shade = np.array(colour, np.float32) * 0.45 + (60 if sum(colour) < 200 else 0)
        base[on] = shade
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def _background(size: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    c1 = rng.integers(60, 200, 3).astype(np.float32)
    if kind == "gradient":
        c2 = rng.integers(60, 200, 3).astype(np.float32)
        t = np.linspace(0, 1, size, dtype=np.float32)
        img = c1 + (c2 - c1) * (t[None, :, None] if rng.random() < 0.5 else t[:, None, None])
        img = np.broadcast_to(img, (size, size, 3)).copy()
    else:
        img = np.empty((size, size, 3), np.float32)
        img[:] = c1
    return img


def render_scene(size: int, objects: list[dict], bg: str, rng: np.random.Generator) -> Image.Image:
    canvas = Image.fromarray(_background(size, bg, rng).clip(0, 255).astype(np.uint8))
    if bg == "clutter":
        d = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(6, 14))):
            p = rng.uniform(0, size, 4)
            d.line(list(p), fill=tuple(int(v) for v in rng.integers(0, 255, 3)), width=1)
    for ob in objects:  # largest first, so small ones stay visible on top
        mask = _shape_mask(ob["shape"], size, ob["cx"] * size, ob["cy"] * size, ob["r"] * size,
                           ob["angle"])
        canvas.paste(_fill(size, COLOURS[ob["colour"]], ob["texture"], rng), (0, 0), mask)
    arr = np.asarray(canvas, np.float32) + rng.normal(0, 6, (size, size, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def describe_scene(objects: list[dict], bg: str, rng: np.random.Generator,
                   omit_p: float) -> tuple[list[str], list[str]]:
    sentences, tags = [], []
    present = {ob["shape"] for ob in objects}
    for rank, ob in enumerate(objects):
        if rng.random() < (omit_p / 2 if rank == 0 else omit_p):
            continue  # some objects go unmentioned, even the largest, rarely
        pos = _position(ob["cx"], ob["cy"])
        words = dict(size=_pick(rng, SIZE_WORDS[ob["size"]]),
                     colour=_pick(rng, COLOUR_WORDS[ob["colour"]]),
                     shape=_pick(rng, SHAPE_WORDS[ob["shape"]]),
                     texture=_pick(rng, TEXTURES[ob["texture"]]), pos=pos,
                     Pos=pos[0].upper() + pos[1:])
        sentences.append(_pick(rng, TEMPLATES).format(**words))
        if rng.random() < 0.85:
            tags.append(ob["shape"] if " " in words["shape"] else words["shape"])
        if rng.random() < 0.6:
            tags.append(words["colour"])
    if rng.random() < 0.5:
        sentences.append(f"The background is {_pick(rng, BACKGROUNDS[bg])}.")
    for _ in range(int(rng.integers(0 if sentences else 1, 3))):
        sentences.append(_pick(rng, FILLERS))
    absent = [s for s in SHAPES if s not in present]
    if absent and rng.random() < 0.3:
        sentences.append(f"There is no {_pick(rng, SHAPE_WORDS[_pick(rng, absent)])} in this picture.")
    if absent and rng.random() < 0.15:
        tags.append(_pick(rng, absent))  # a wrong tag, as real tags have
    tags += list(rng.choice(NOISE_TAGS, size=int(rng.integers(1, 4)), replace=False))
    order = rng.permutation(len(sentences))
    return [sentences[i] for i in order], tags


def sample_objects(rng: np.random.Generator) -> list[dict]:
    n = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.35, 0.25, 0.15]))
    sizes = sorted((_pick(rng, list(SIZES)) for _ in range(n)), key=list(SIZES).index, reverse=True)
    objects = []
    for s in sizes:
        r = float(rng.uniform(*SIZES[s]))
        objects.append(dict(shape=_pick(rng, SHAPES), colour=_pick(rng, list(COLOURS)),
                            texture=_pick(rng, list(TEXTURES)), size=s, r=r,
                            cx=float(rng.uniform(r, 1 - r)), cy=float(rng.uniform(r, 1 - r)),
                            angle=float(rng.uniform(-0.4, 0.4))))
    objects.sort(key=lambda o: -o["r"])
    return objects


@DATASETS.register("scenes")
class ScenesDataset(DatasetSource):
    """Embedded default: generated PNG scenes of shapes + English documents and tags (no network)."""

    name = "scenes"

    class Params(DatasetParams):
        n_items: int = Field(1500, ge=1, le=1_000_000, description="scenes to generate")
        image_size: int = Field(128, ge=16, le=4096, description="image side in pixels")
        seed: Seed = 0
        omit_p: float = Field(0.2, ge=0, le=1, description="chance that a document leaves out "
                              "an object")

    def needs_root(self) -> bool:
        return False

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        p = check_params(self.name, spec.params, self.Params)
        size, n = int(p["image_size"]), int(p["n_items"])
        (workdir / "images").mkdir()
        items = []
        for i in range(n):
            rng = np.random.default_rng([int(p["seed"]), i])
            objects = sample_objects(rng)
            bg = _pick(rng, list(BACKGROUNDS))
            img = render_scene(size, objects, bg, rng)
            rel = f"images/scene-{i:05d}.png"
            img.save(workdir / rel, optimize=False)
            sentences, tags = describe_scene(objects, bg, rng, float(p["omit_p"]))
            units = [Unit("sentence", text=s) for s in sentences]
            units += [Unit("tag", text=t) for t in tags]
            units += [Unit("object", text=o["shape"], box=tuple(
                float(v) * size for v in (o["cx"] - o["r"], o["cy"] - o["r"], o["cx"] + o["r"],
                                          o["cy"] + o["r"]))) for o in objects]
            items.append(Item(
                item_id=f"scene-{i:05d}", category=SHAPES.index(objects[0]["shape"]),
                labels=sorted({SHAPES.index(o["shape"]) for o in objects}),
                text=" ".join(sentences), tags=tags, image_path=rel, units=units))
        return LoadedDataset(items=items, categories=SHAPES, label_names=SHAPES, multilabel=True,
                             source=f"generated: scenes {p}")
