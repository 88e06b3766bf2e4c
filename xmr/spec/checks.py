"""What a spec is checked against beyond its pydantic models: the registries (datasets,
extractors, protocols) and the dataset's and extractors' own parameter models, and the wiring
of branches trained from pixels. `xmr validate` and every run call `check_registered_names`."""

from __future__ import annotations

from .load import SpecError, params_errors
from .evaluation import RADIUS_METRICS, parse_metric_name
from .models import ExperimentSpec


def dataset_problems(dataset) -> list[str]:
    """What is wrong with a dataset section beyond its model: the name and its own params."""
    from ..datasets import DATASETS

    if dataset.name not in DATASETS:
        return [f"dataset.name: unknown dataset {dataset.name!r}; "
                f"choose one of: {', '.join(DATASETS.names())}"]
    return params_errors(DATASETS.get(dataset.name).Params, dataset.params, "dataset.params")


def feature_problems(key: str, feat, dataset: str | None = None) -> list[str]:
    """What is wrong with one feature set: the extractor, its params, modality and granularity,
    and for `precomputed` sets, whether ``dataset`` ships the named matrix."""
    from ..datasets import DATASETS
    from ..extractors import EXTRACTORS

    where = f"features.{key}"
    if feat.extractor not in EXTRACTORS:
        return [f"{where}.extractor: unknown extractor {feat.extractor!r}; "
                f"choose one of: {', '.join(EXTRACTORS.names())}"]
    ext = EXTRACTORS.get(feat.extractor)
    out = params_errors(ext.Params, feat.params, f"{where}.params")
    if ext.modality not in ("any", feat.modality):
        out.append(f"{where}.extractor: {feat.extractor!r} makes {ext.modality} features, but the "
                   f"feature's modality is {feat.modality}")
    if feat.extractor == "precomputed" and feat.granularity.type != "whole":
        out.append(f"{where}.granularity: precomputed features are whole-item only")
    if feat.extractor == "precomputed" and not out and dataset in DATASETS:
        ships = DATASETS.get(dataset).PRECOMPUTED
        if feat.params.get("name") not in ships:
            out.append(f"{where}.params.name: dataset {dataset!r} ships "
                       f"{', '.join(map(repr, ships)) or 'no precomputed features'}, not "
                       f"{feat.params.get('name')!r}")
    return out


def pixel_problems(spec: ExperimentSpec) -> list[str]:
    """Branches trained from pixels (`cnn`, `convnet`) read a whole-item `pixels` feature set, and
    a `cnn` crop fits inside its stored squares."""
    from ..extractors.image import PixelsParams

    out = []
    for modality in ("image", "text"):
        branch = getattr(spec.architecture, modality)
        if branch.type not in ("cnn", "convnet"):
            continue
        feat = spec.features[branch.input]
        if feat.extractor != "pixels" or feat.granularity.type != "whole":
            out.append(f"architecture.{modality}.input: a {branch.type} branch reads pixels; "
                       f"{branch.input!r} is {feat.extractor} ({feat.granularity.type})")
            continue
        size = PixelsParams.model_validate(feat.params).size
        if branch.type == "cnn" and branch.crop > size:
            out.append(f"architecture.{modality}.crop: {branch.crop} is larger than feature "
                       f"{branch.input!r}'s pixel size {size}")
    return out


# closed-form phases -> the branch type they fill
FILLED_BRANCH = {"cca": "linear", "pls": "linear", "cfa": "linear", "three_view_cca": "linear",
                 "ml_cca": "linear", "jfssl": "linear", "jrl": "linear",
                 "semantic_matching": "linear", "kcca": "kernel", "scm_hash": "linear",
                 "seph": "kernel"}
HASH_FILLERS = ("scm_hash", "seph")  # phases that fill the hash functions of an identity layout


def no_validation(split) -> bool:
    """Whether a split recipe draws no validation items, whatever the dataset."""
    if split.recipe in ("counts", "query_retrieval"):
        return split.n_val == 0
    if split.recipe == "official":
        return split.n_val == 0 and split.val == 0
    return split.val == 0


def subspace_problems(spec: ExperimentSpec) -> list[str]:
    """The closed-form phases (`cca`, `kcca`, `pls`, ...) fill branches of one type, with equal
    outputs, over whole-item features; SM / SCM's branches output posteriors."""
    from .protocols import PROTOCOLS, resolve_protocol

    out = []
    arch = spec.architecture
    for i, phase in enumerate(spec.training.phases):
        want = FILLED_BRANCH.get(phase.type)
        if want is None:
            continue
        where = f"training.phases.{i} ({phase.type})"
        for m in ("image", "text"):
            branch = getattr(arch, m)
            if branch.type != want:
                out.append(f"{where}: fills {want} branches; architecture.{m} is {branch.type}")
                continue
            feat = spec.features.get(branch.input)
            if feat is not None and feat.granularity.type != "whole":
                out.append(f"{where}: needs whole-item features; architecture.{m}.input "
                           f"{branch.input!r} has {feat.granularity.type} units")
            if branch.type == "kernel" and branch.centre != (phase.type == "kcca"):
                out.append(f"{where}: architecture.{m}.centre must be "
                           f"{str(phase.type == 'kcca').lower()} (kcca centres the kernel values; "
                           "seph regresses on the raw values)")
            if phase.type == "semantic_matching" and branch.output != "softmax":
                out.append(f"{where}: architecture.{m}.output must be softmax (the class "
                           "posteriors are the common space)")
        if arch.image.out != arch.text.out:
            out.append(f"{where}: architecture.image.out ({arch.image.out}) and text.out "
                       f"({arch.text.out}) must be equal")
        hh = arch.hash_head
        if phase.type in HASH_FILLERS and (hh is None or hh.layout != "identity"
                                           or hh.activation != "none"):
            out.append(f"{where}: fills the hash functions themselves: set architecture."
                       "hash_head {layout: identity, activation: none}")
        if phase.type == "jrl" and phase.unlabeled == "val" and no_validation(spec.dataset.split):
            out.append(f"{where}: unlabeled: val, but dataset.split draws no validation items "
                       "(set dataset.split.val or n_val, or unlabeled: none)")
        proto = spec.evaluation.protocol
        if phase.type == "semantic_matching" and (not isinstance(proto, str) or proto in PROTOCOLS):
            if resolve_protocol(proto).relevance != "category":
                out.append(f"{where}: implemented for single-label data (a protocol with "
                           "relevance 'category')")
    return out


ALTERNATING_TERMS = ("inter_pair_nll", "intra_pair_nll", "label_bce_sum", "graph_regularization",
                     "code_quantization", "bit_balance", "bit_decorrelation")


def alternating_problems(spec: ExperimentSpec) -> list[str]:
    """The `dmsfh` phase's terms, and those terms nowhere else (they need its stored outputs)."""
    out = []
    arch = spec.architecture
    for i, phase in enumerate(spec.training.phases):
        own = getattr(phase, "losses", None)
        terms = own if own is not None else spec.losses
        where = f"training.phases.{i}" + (".losses" if own is not None else " (the spec's losses)")
        if phase.type != "dmsfh":
            if phase.type in ("gradient", "alternating_hash"):
                out += [f"{where}: loss {t.name!r} belongs to the dmsfh phase"
                        for t in terms if t.name in ALTERNATING_TERMS]
            continue
        wrong = [t.name for t in terms if t.name not in ALTERNATING_TERMS]
        if wrong:
            out.append(f"{where}: {wrong} are not dmsfh terms ({', '.join(ALTERNATING_TERMS)})")
        weights = {t.name: t.weight for t in terms}
        if weights.get("code_quantization", 0) <= 0:
            out.append(f"{where}: the dmsfh phase needs code_quantization (L5) with a positive "
                       "weight")
        stray = [t for t in phase.trainable or [] if t.split(".")[0] not in phase.modalities]
        if stray:
            out.append(f"training.phases.{i}.trainable: {stray} belong to no network the phase "
                       f"trains ({', '.join(phase.modalities)})")
        if "inter_pair_nll" in weights and len(phase.modalities) < 2:
            out.append(f"training.phases.{i}.modalities: inter_pair_nll (L1) needs both networks")
        if arch.hash_head is None:
            out.append(f"training.phases.{i}: the dmsfh phase needs architecture.hash_head")
        elif "label_bce_sum" in weights and arch.hash_head.layout != "split" \
                and not arch.label_head:
            out.append(f"{where}: label_bce_sum (L3) needs a label layer: hash_head.layout "
                       "'split' or label_head")
    return out


def deep_problems(spec: ExperimentSpec) -> list[str]:
    """The deep comparison methods' parts: an output CCA fitted by an `output_cca` phase that
    comes last, decoders over whole-item features and trained by `reconstruction`, and class
    posteriors where `label_ce` reads the representation (DeepSM)."""
    arch, phases, out = spec.architecture, spec.training.phases, []
    fits = [i for i, p in enumerate(phases) if p.type == "output_cca"]
    if fits and arch.output_cca is None:
        out.append(f"training.phases.{fits[0]}: phase output_cca needs architecture.output_cca")
    if arch.output_cca is not None and not fits:
        out.append("architecture.output_cca: nothing fits it; add an output_cca phase last")
    if fits and fits[0] != len(phases) - 1:
        out.append(f"training.phases.{fits[0]}: phase output_cca must be the last phase (it "
                   "replaces the representation the other phases train)")
    for where, listed in spec.loss_lists():
        for j, t in enumerate(listed):
            if t.name == "reconstruction" and arch.decoders is None:
                out.append(f"{where}.{j}: loss 'reconstruction' needs architecture.decoders")
            if t.name == "label_ce" and t.params.source == "embedding":
                out += [f"{where}.{j}: label_ce with source 'embedding' reads class posteriors; "
                        f"architecture.{m} needs type mlp or linear with output: softmax"
                        for m in t.params.modalities
                        if getattr(getattr(arch, m), "output", None) != "softmax"]
    if arch.decoders is not None:
        for m in ("image", "text"):
            feat = spec.features.get(getattr(getattr(arch, m), "input", None) or "")
            if feat is None or feat.granularity.type != "whole":
                out.append(f"architecture.decoders: decoders reconstruct whole-item features; "
                           f"architecture.{m} does not read one")
    return out


def search_problems(spec: ExperimentSpec, protocol) -> list[str]:
    """A FAISS search returns each query's top `search_k`: only metrics within it can be
    computed, and only for distances FAISS indexes."""
    if protocol.search == "exact":
        return []
    ev, k, out = spec.evaluation, protocol.search_k, []
    where = f"evaluation.protocol.search {protocol.search!r}"
    for m in ev.metrics:
        base, cut = parse_metric_name(m)
        if cut is None or base in RADIUS_METRICS:
            out.append(f"evaluation.metrics: {m!r} needs the whole ranking or every Hamming "
                       f"distance; {where} returns the top {k} (use map@R, p@N, r@K, hit@K)")
        elif cut > k:
            out.append(f"evaluation.metrics: {m!r} reaches beyond {where}'s search_k {k}")
    beyond = [r for r in ev.map_curve if r > k]
    if beyond:
        out.append(f"evaluation.map_curve: {beyond} reach beyond {where}'s search_k {k}")
    if protocol.distance == "learned" or ev.also_distances:
        out.append(f"{where}: FAISS indexes cosine, inner_product, euclidean and hamming; not "
                   "the learned distance, and not evaluation.also_distances")
    return out


def check_registered_names(spec: ExperimentSpec, source: str) -> None:
    """Names and parameters that resolve through registries (datasets, extractors, protocols).

    These registries import no torch at module level, so validation stays light.
    """
    from .protocols import PROTOCOLS

    problems = [f"  {p}" for p in dataset_problems(spec.dataset)]
    for key, feat in spec.features.items():
        problems += [f"  {p}" for p in feature_problems(key, feat, spec.dataset.name)]
    if not problems:
        problems += [f"  {p}" for p in pixel_problems(spec)]
    proto = spec.evaluation.protocol
    if isinstance(proto, str) and proto not in PROTOCOLS:
        problems.append(f"  evaluation.protocol: unknown protocol {proto!r}; "
                        f"choose one of: {', '.join(PROTOCOLS.names())}")
    else:
        distances = {"evaluation.protocol": (PROTOCOLS.get(proto) if isinstance(proto, str)
                                             else proto).distance,
                     "evaluation.also_distances": "learned"
                     if "learned" in spec.evaluation.also_distances else None}
        trained = spec.architecture.metric_network is not None and any(
            p.type == "metric_network" for p in spec.training.phases)
        problems += [f"  {where}: distance 'learned' ranks by the metric network: set "
                     "architecture.metric_network and a metric_network phase"
                     for where, d in distances.items() if d == "learned" and not trained]
        problems += [f"  {p}" for p in search_problems(
            spec, PROTOCOLS.get(proto) if isinstance(proto, str) else proto)]
        radius = [m for m in spec.evaluation.metrics if parse_metric_name(m)[0] in RADIUS_METRICS]
        if radius and distances["evaluation.protocol"] != "hamming":
            problems.append(f"  evaluation.metrics: {radius} are hash-lookup metrics; they need "
                            "a protocol with distance 'hamming'")
    problems += [f"  {p}" for p in alternating_problems(spec)]
    problems += [f"  {p}" for p in subspace_problems(spec)]
    problems += [f"  {p}" for p in deep_problems(spec)]
    if problems:
        raise SpecError("\n".join([f"{source}: {len(problems)} error(s) in the spec", *problems]))
