"""Small fixture trees in each dataset's official layout (a few items, real file formats)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.io import savemat

MIR_LABELS = ["animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor",
              "lake", "male", "night", "people", "plant_life", "portrait", "river", "sea", "sky",
              "structures", "sunset", "transport", "tree", "water"]


def image(path: Path, seed: int, size=(96, 72)) -> Path:
    """A picture with a few coloured shapes (so that regions and edges exist)."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(im)
    for _ in range(3):
        x0, y0 = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
        w, h = rng.integers(size[0] // 5, size[0] // 2), rng.integers(size[1] // 5, size[1] // 2)
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


SENTENCES = ["A small plane sits on the runway.", "Two dogs run across a green field.",
             "A man rides a red bicycle downhill.", "The cat sleeps on a soft sofa.",
             "A bus waits at the station.", "Boats float in the quiet harbour."]


def pascal_official(root: Path, per_category: int = 3) -> Path:
    for c, cat in enumerate(["aeroplane", "dog"]):
        for k in range(per_category):
            name = f"2008_{c}{k:05d}"
            image(root / "dataset" / cat / f"{name}.jpg", 10 * c + k)
            (root / "sentence" / cat).mkdir(parents=True, exist_ok=True)
            lines = [SENTENCES[(c * 3 + k + j) % len(SENTENCES)] for j in range(5)]
            (root / "sentence" / cat / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


def pascal_json(root: Path, with_images: bool = True) -> Path:
    data = {}
    for c, cat in enumerate(["bird", "cat"]):
        for k in range(4):
            name = f"2008_{c}{k:05d}.jpg"
            data[name] = {"category": cat, "captions": SENTENCES[k:k + 5]}
            if with_images:
                image(root / "images" / name, 20 + 10 * c + k)
    root.mkdir(parents=True, exist_ok=True)
    (root / "pascal_sentences.json").write_text(json.dumps(data))
    return root


def pascal_dscmr(root: Path, with_train_img: bool = False) -> Path:
    d = root / "dscmr-features"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("test", 4)):
        savemat(d / f"{split}_img_lab.mat", {f"{split}_img_lab": (np.arange(n) % 20)[:, None]})
        savemat(d / f"{split}_txt.mat", {f"{split}_txt": rng.random((n, 300), dtype=np.float32)})
        if split == "test" or with_train_img:
            savemat(d / f"{split}_img.mat", {f"{split}_img": rng.random((n, 4096), dtype=np.float32)})
    return root


def mirflickr_official(root: Path, n: int = 8) -> Path:
    tags = [["sky", "blue", "cloud"], ["dog", "park"], ["sky", "sunset"], ["dog", "sky"],
            ["rare"], ["sky", "dog"], ["park", "blue"], ["sky"]]
    for i in range(1, n + 1):
        image(root / "mirflickr" / f"im{i}.jpg", i)
        (root / "mirflickr" / "meta" / "tags").mkdir(parents=True, exist_ok=True)
        (root / "mirflickr" / "meta" / "tags" / f"tags{i}.txt").write_text("\n".join(tags[i - 1]) + "\n")
    ann = root / "annotations"
    ann.mkdir()
    members = {"sky": [1, 3, 4, 6, 8], "dog": [2, 4, 6], "clouds": [1], "sunset": [3]}
    for label in MIR_LABELS:
        (ann / f"{label}.txt").write_text("".join(f"{i}\n" for i in members.get(label, [])))
        (ann / f"{label}_r1.txt").write_text("")
    (ann / "README.txt").write_text("annotations\n")
    return root


def mirflickr_dcmh(root: Path, n: int = 6, with_images: bool = True) -> tuple[Path, np.ndarray]:
    import h5py

    root.mkdir(parents=True)
    rng = np.random.default_rng(1)
    labels = np.zeros((n, 24), np.uint8)
    labels[np.arange(n), np.arange(n) % 24] = 1
    savemat(root / "mirflickr25k-lall.mat", {"LAll": labels.astype(float)})
    savemat(root / "mirflickr25k-yall.mat", {"YAll": rng.integers(0, 2, (n, 1386)).astype(float)})
    yy, xx = np.mgrid[0:32, 0:40]
    imgs = np.stack([np.stack([(xx * 6 + 10 * i) % 256, yy * 7 % 256, np.full_like(xx, 40 * i)], -1)
                     for i in range(n)]).astype(np.uint8)  # (n, H, W, 3)
    if with_images:
        # MATLAB v7.3 stores column-major: h5py sees (N, 3, W, H) for a MATLAB H x W x 3 x N array
        with h5py.File(root / "mirflickr25k-iall.mat", "w") as fh:
            fh["IAll"] = imgs.transpose(0, 3, 2, 1)
    return root, imgs


def nus_wide(root: Path, with_images: bool = True) -> Path:
    concepts = ["animal", "clouds", "person", "sky", "water", "window", "beach", "car", "flowers",
                "grass", "road", "snow"]
    n = 36
    files = [f"{concepts[i % 12]}/{i:04d}_{1000 + i}.jpg" for i in range(n)]
    (root / "ImageList").mkdir(parents=True)
    (root / "ImageList" / "Imagelist.txt").write_text(
        "".join(f"C:\\ImageData\\Flickr\\{f.replace('/', chr(92))}\n" for f in files))
    (root / "ImageList" / "TrainImagelist.txt").write_text(
        "".join(f"C:\\ImageData\\Flickr\\{f.replace('/', chr(92))}\n" for f in files[:24]))
    (root / "ImageList" / "TestImagelist.txt").write_text(
        "".join(f"C:\\ImageData\\Flickr\\{f.replace('/', chr(92))}\n" for f in files[24:]))
    (root / "Concepts81.txt").write_text("\n".join(concepts) + "\n")
    labels = np.zeros((n, 12), np.uint8)
    labels[np.arange(n), np.arange(n) % 12] = 1  # one concept each ...
    labels[0, 3] = labels[13, 5] = 1  # ... but two images with two
    (root / "Groundtruth" / "AllLabels").mkdir(parents=True)
    for j, c in enumerate(concepts):
        (root / "Groundtruth" / "AllLabels" / f"Labels_{c}.txt").write_text(
            "".join(f"{v}\r\n" for v in labels[:, j]))
    tag_names = ["sky", "dog", "blue", "tree", "sea", "road", "red", "snow"]
    tags = (np.arange(n)[:, None] + np.arange(8)[None, :]) % 3 == 0
    tags[5] = False  # one image without tags
    (root / "NUS_WID_Tags").mkdir()
    (root / "NUS_WID_Tags" / "TagList1k.txt").write_text("\n".join(tag_names) + "\n")
    (root / "NUS_WID_Tags" / "AllTags1k.txt").write_text(
        "".join("\t".join(str(int(v)) for v in row) + "\t\n" for row in tags))
    (root / "Low_Level_Features").mkdir()
    rng = np.random.default_rng(0)
    for fname, dim in (("Normalized_CH.dat", 64), ("Normalized_CORR.dat", 144),
                       ("Normalized_EDH.dat", 73), ("Normalized_WT.dat", 128),
                       ("Normalized_CM55.dat", 225)):
        rows = rng.random((n, dim)).round(4)
        (root / "Low_Level_Features" / fname).write_text(
            "".join(" ".join(f"{v:.4f}" for v in row) + " \n" for row in rows))
    bow = rng.integers(0, 4, (n, 500))
    (root / "Low_Level_Features" / "BoW_int.dat").write_text(
        "".join(" ".join(str(v) for v in row) + " \n" for row in bow))
    if with_images:
        for i, f in enumerate(files):
            image(root / "Flickr" / f, 100 + i)
    return root


def write_vecs(path: Path, rows: np.ndarray, dtype) -> None:
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(np.int32(len(row)).tobytes() + row.astype(dtype).tobytes())


def corel5k(root: Path, width=np.int32) -> Path:
    words = ["sky", "water", "tree", "people", "grass"]
    root.mkdir(parents=True)
    (root / "corel5k_dictionary.txt").write_text("\n".join(words) + "\n")
    lists = {"train": ["1000/1001", "1000/1002", "2000/2001", "2000/2002", "3000/3001"],
             "test": ["1000/1003", "3000/3002"]}
    annots = {"train": [[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1], [1, 0, 0, 0, 1],
                        [0, 0, 0, 0, 0]],
              "test": [[1, 0, 1, 0, 0], [0, 0, 0, 1, 0]]}
    for split in ("train", "test"):
        (root / f"corel5k_{split}_list.txt").write_text("\n".join(lists[split]) + "\n")
        write_vecs(root / f"corel5k_{split}_annot.hvecs", np.array(annots[split]), width)
        for k, name in enumerate(lists[split]):
            image(root / "images" / f"{name}.jpeg", 300 + k)
    return root


def xmedia_raw(root: Path) -> Path:
    for c, cat in enumerate(["bird", "car"]):
        for k in range(3 + c):  # car has one image too many
            image(root / "image" / cat / f"{cat}_{k}.jpg", 400 + 10 * c + k)
        for k in range(3):
            (root / "text" / cat).mkdir(parents=True, exist_ok=True)
            (root / "text" / cat / f"{cat}_{k}.txt").write_text(f"{SENTENCES[k]} {SENTENCES[k + 1]}")
    return root


def xmedia_features(root: Path) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(2)
    savemat(root / "XMediaFeatures.mat", {
        "I_tr_CNN": rng.random((6, 16)), "I_te_CNN": rng.random((3, 16)),
        "T_tr_BOW": rng.random((6, 10)), "T_te_BOW": rng.random((3, 10)),
        "trImgCat": np.array([1, 1, 2, 2, 3, 3])[:, None], "teImgCat": np.array([1, 2, 3])[:, None]})
    return root


def flickr8k(root: Path) -> Path:
    names = [f"{1000 + i}_abc.jpg" for i in range(6)]
    text = root / "Flickr8k_text"
    text.mkdir(parents=True)
    (text / "Flickr8k.token.txt").write_text("".join(
        f"{n}#{k}\t{SENTENCES[(i + k) % len(SENTENCES)]}\n" for i, n in enumerate(names) for k in range(5)))
    for fname, part in (("Flickr_8k.trainImages.txt", names[:4]), ("Flickr_8k.devImages.txt", names[4:5]),
                        ("Flickr_8k.testImages.txt", names[5:])):
        (text / fname).write_text("\n".join(part) + "\n")
    for i, n in enumerate(names):
        image(root / "Flicker8k_Dataset" / n, 500 + i)
    return root


def mscoco(root: Path) -> Path:
    (root / "annotations").mkdir(parents=True)
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]
    for p, part in enumerate(("train2014", "val2014")):
        images = [{"id": 10 * p + i, "file_name": f"COCO_{part}_{10 * p + i:012d}.jpg"} for i in range(4)]
        caps = [{"id": 100 * p + 5 * i + k, "image_id": im["id"], "caption": SENTENCES[(i + k) % 6]}
                for i, im in enumerate(images) for k in range(5)]
        inst = [{"id": 1000 * p + i, "image_id": im["id"], "category_id": cats[i % 3]["id"]}
                for i, im in enumerate(images[:3])]  # the 4th image has no instances
        (root / "annotations" / f"captions_{part}.json").write_text(json.dumps({"images": images, "annotations": caps}))
        (root / "annotations" / f"instances_{part}.json").write_text(
            json.dumps({"images": images, "annotations": inst, "categories": cats}))
        for i, im in enumerate(images):
            image(root / part / im["file_name"], 600 + 10 * p + i)
    return root


WIKI_WORDS = {0: "paint canvas museum colour portrait sculpture gallery", 1: "cell gene species "
              "protein organism evolution enzyme", 2: "battle army empire treaty king war siege"}


def wikipedia(root: Path, n_train: int = 30, n_test: int = 15, seed: int = 0) -> Path:
    """The SVCL layout with three categories, article XML files and a `raw_features.mat` whose
    SIFT-like histograms and LDA-like topic rows (each summing to 1) depend on the category."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    (root / "categories.list").write_text("art\nbiology\nwarfare\n")
    (root / "texts").mkdir()
    feats = {}
    for split, n, tag in (("trainset", n_train, "tr"), ("testset", n_test, "te")):
        cats = np.arange(n) % 3
        rows = [f"{split}{i:03d}\timg{split}{i:03d}\t{c + 1}" for i, c in enumerate(cats)]
        (root / f"{split}_txt_img_cat.list").write_text("\n".join(rows) + "\n")
        for i, c in enumerate(cats):
            words = rng.choice(WIKI_WORDS[c].split(), size=12)
            text = f"{' '.join(words[:6]).capitalize()}. {' '.join(words[6:]).capitalize()}."
            (root / "texts" / f"{split}{i:03d}.xml").write_text(
                f'<document id="{split}{i:03d}"><text>{text}</text></document>', encoding="utf-8")
        image = rng.gamma(1.0, size=(n, 15)) + 2.0 * np.eye(3)[cats].repeat(5, axis=1)
        topics = rng.gamma(0.5, size=(n, 5)) + 3.0 * np.eye(5)[cats]
        feats[f"I_{tag}"] = image / image.sum(1, keepdims=True)
        feats[f"T_{tag}"] = topics / topics.sum(1, keepdims=True)
    savemat(root / "raw_features.mat", feats)
    return root
