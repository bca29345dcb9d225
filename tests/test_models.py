"""Model zoo: oracle agreement, strict frozen loading, layer table, random init, BN folding, classification."""
import pytest
import torch
from torch import nn

from caricatures import models
from caricatures.images import load_photo
from caricatures.models import fold_batchnorm, list_models, load_model

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


@pytest.fixture(scope="module")
def zoo():
    return {name: load_model(name) for name in list_models()}


def _image(model, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, model.input_size, model.input_size, generator=g)


@pytest.mark.parametrize("name", LITES)
def test_lite_logits_match_independent_package(zoo, name):
    from efficientnet_lite_pytorch import EfficientNet
    model = zoo[name]
    ref = EfficientNet.from_name(name.replace("_", "-")).eval()
    ref.load_state_dict(torch.load(model.meta["weights_file"], map_location="cpu"), strict=True)
    x = torch.cat([_image(model, 1), load_photo("images/animals/panda.jpg", model.input_size)[None]])
    with torch.no_grad():
        ours = model.activations(x, ["logits"])["logits"]
        theirs = ref((255 * x - 127) / 128)
    assert ours.shape == (2, 1000)
    assert torch.allclose(ours, theirs, atol=1e-4 * theirs.abs().max().item(), rtol=0)


def _file_key(name, stage, key, n_stages):
    """Map a stage's state-dict key to the weight file's key (written independently of the model code)."""
    if name == "mobilenet_v2":
        return f"classifier.1.{key.removeprefix('fc.')}" if stage == n_stages - 1 else f"features.{stage}.{key}"
    if stage == 0:
        return key.replace("conv.", "_conv_stem.").replace("bn.", "_bn0.")
    if stage == n_stages - 2:
        return key.replace("conv.", "_conv_head.").replace("bn.", "_bn1.")
    if stage == n_stages - 1:
        return key.replace("fc.", "_fc.")
    return f"_blocks.{stage - 1}.{key}"


@pytest.mark.parametrize("name", list_models())
def test_every_file_tensor_is_loaded_and_frozen(zoo, name):
    model = zoo[name]
    file_sd = torch.load(model.meta["weights_file"], map_location="cpu")
    n = len(model.stages)
    ours = {_file_key(name, i, k, n): v for i, s in enumerate(model.stages) for k, v in s.state_dict().items()}
    assert set(ours) == set(file_sd)
    assert all(torch.equal(ours[k], file_sd[k]) for k in file_sd)
    assert all(not p.requires_grad for p in model.stages.parameters())
    assert not any(m.training for m in model.stages.modules())
    assert model.weights == "imagenet" and len(model.weights_sha256) == 64


def test_strict_loading_rejects_missing_key(monkeypatch):
    real = models._state_dict
    monkeypatch.setattr(models, "_state_dict", lambda p: {k: v for k, v in real(p).items() if k != "_fc.bias"})
    with pytest.raises(RuntimeError, match="_fc.bias"):
        load_model("efficientnet_lite0")


def test_unknown_names_list_valid_ones():
    with pytest.raises(KeyError, match="efficientnet_lite0.*mobilenet_v2"):
        load_model("resnet50")
    with pytest.raises(ValueError, match="imagenet, random"):
        load_model("mobilenet_v2", weights="places365")
    with pytest.raises(KeyError, match="block0"):
        load_model("mobilenet_v2", reinit=["block99"])
    with pytest.raises(ValueError, match="whole stages"):
        load_model("efficientnet_lite0", reinit=["block2.branch"])


def test_input_size_is_the_networks_without_loading_weights(zoo):
    assert {name: models.input_size(name) for name in list_models()} == \
        {name: m.input_size for name, m in zoo.items()}
    with pytest.raises(KeyError, match="efficientnet_lite0.*mobilenet_v2"):
        models.input_size("resnet50")


@pytest.mark.parametrize("name", list_models())
def test_layer_table_matches_activations(zoo, name):
    model = zoo[name]
    names = list(model.layers)
    assert len(set(names)) == len(names)
    assert names[0] == "stem" and names[-2:] == ["head", "logits"]
    assert [model.layers[n].stage for n in names] == sorted(model.layers[n].stage for n in names)
    blocks = [n for n in names if model.layers[n].kind == "block"]
    assert blocks == [f"block{i}" for i in range(len(model.stages) - 3)]
    assert len(model.meta["stage_ends"]) == 7 and model.meta["stage_ends"][-1] == blocks[-1]
    assert set(model.meta["stage_ends"]) <= set(blocks)
    x = _image(model, 1)
    with torch.no_grad():
        acts = model.activations(x, names)
    for n in names:
        assert tuple(acts[n].shape[1:]) == model.shape(n), n
        lay = model.layers[n]
        if lay.kind != "logits":
            side = -(-model.input_size // lay.stride)
            assert acts[n].shape[1:] == (lay.channels, side, side) and f"{side}×{side}" in lay.title
    for n in names:
        if model.layers[n].kind == "branch":
            block = n.removesuffix(".branch")
            i = int(block[5:])
            before = "stem" if i == 0 else f"block{i - 1}"
            torch.testing.assert_close(acts[before] + acts[n], acts[block])


def test_shapes_at_other_input_sizes(zoo):
    model = zoo["efficientnet_lite2"]
    x = torch.rand(1, 3, 97, 97)
    with torch.no_grad():
        acts = model.activations(x, ["block3", "block20", "logits"])
    assert all(tuple(acts[n].shape[1:]) == model.shape(n, 97) for n in acts)
    assert acts["block3"].shape[-1] == 25  # 97 → 49 → 25 with TF "SAME" padding
    assert model.label("block3", 97) == f"block 3 · {acts['block3'].shape[1]} ch · 25×25"
    assert model.label("block3") == model.layer("block3").title
    assert model.label("logits", 97) == model.layer("logits").title


def test_activations_stop_at_deepest_requested_stage(zoo):
    model = zoo["efficientnet_lite0"]
    calls = []
    handles = [s.register_forward_pre_hook(lambda _m, _i, i=i: calls.append(i)) for i, s in enumerate(model.stages)]
    try:
        with torch.no_grad():
            out = model.activations(_image(model, 1), ["block3", "block2.branch"])
    finally:
        for h in handles:
            h.remove()
    assert calls == [0, 1, 2, 3, 4] and set(out) == {"block3", "block2.branch"}


def _stage_states(model):
    return [{k: v.clone() for k, v in s.state_dict().items()} for s in model.stages]


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenet_v2"])
def test_random_init_is_seeded(zoo, name):
    a, b, c = (load_model(name, "random", seed=s) for s in (1, 1, 2))
    sa, sb, sc, si = map(_stage_states, (a, b, c, zoo[name]))
    assert all(_same(x, y) for x, y in zip(sa, sb))
    assert not any(_same(x, y) for x, y in zip(sa, sc))
    assert not any(_same(x, y) for x, y in zip(sa, si))
    assert a.weights == "random" and a.weights_sha256 is None
    w = a.stages[1]._depthwise_conv.weight if name != "mobilenet_v2" else a.stages[1].conv[0][0].weight
    fan_out = w.shape[0] * w.shape[2] * w.shape[3] // w.shape[1]  # depthwise: groups == channels
    assert abs(w.std().item() / (2 / fan_out) ** 0.5 - 1) < 0.35  # kaiming normal, fan_out
    bn = a.stages[1]._bn1 if name != "mobilenet_v2" else a.stages[1].conv[0][1]
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.running_var, bn.weight)
    with torch.no_grad():
        assert torch.isfinite(a.activations(_image(a, 1), ["logits"])["logits"]).all()


def test_reinit_changes_only_named_stages(zoo):
    name = "efficientnet_lite0"
    model = load_model(name, seed=3, reinit=("block15", "head"))
    changed = {model.layers["block15"].stage, model.layers["head"].stage}
    rand = _stage_states(load_model(name, "random", seed=3))
    for i, (ours, orig) in enumerate(zip(_stage_states(model), _stage_states(zoo[name]))):
        assert _same(ours, rand[i]) if i in changed else _same(ours, orig), i
    assert model.weights == "imagenet+reinit:block15,head"
    assert all(not p.requires_grad for p in model.stages.parameters())


@pytest.mark.parametrize("name", list_models())
def test_fold_batchnorm_matches_every_layer(zoo, name):
    model = zoo[name]
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.stages.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.stages.modules())  # original untouched
    assert all(not p.requires_grad for p in folded.stages.parameters())
    names = list(model.layers)
    x = _image(model, 2, seed=5)
    with torch.no_grad():
        a, b = model.activations(x, names), folded.activations(x, names)
    for n in names:
        scale = a[n].abs().max()
        assert (a[n] - b[n]).abs().max() <= 1e-4 * scale, n


# Photos with an obvious ImageNet class; each maps to the class indices counted as correct.
SANITY = {
    "animals/panda.jpg": {388},                  # giant panda
    "animals/chelsea_cat.jpg": {281, 282, 285},  # tabby, tiger cat, Egyptian cat
    "objects/coffee.jpg": {967},                 # espresso
    "animals/koala.jpg": {105},
    "animals/scarlet_macaw.jpg": {88},           # macaw
    "animals/jaguar.jpg": {290},
    "animals/bison.jpg": {347},
    "animals/pig.jpg": {341, 342},               # hog, wild boar
    "objects/volleyball.jpg": {890},
    "objects/baseball.jpg": {429},
    "objects/hammer1.jpg": {587},
    "animals/hedgehog.jpg": {334},               # "porcupine, hedgehog"
    "animals/owl.jpg": {24},                     # great grey owl
    "animals/dog.jpg": {235},                    # German shepherd
    "animals/polar_bear.jpg": {296},             # ice bear
    "objects/dam1.jpg": {525},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_classifies_obvious_photos(zoo, name):
    model = zoo[name]
    x = torch.stack([load_photo(f"images/{f}", model.input_size) for f in SANITY])
    with torch.no_grad():
        top5 = model.activations(x, ["logits"])["logits"].topk(5).indices.tolist()
    misses = [f for f, ok, top in zip(SANITY, SANITY.values(), top5) if not ok & set(top)]
    assert not misses, f"{name} top-5 misses {misses}"
    top1 = sum(top[0] in ok for ok, top in zip(SANITY.values(), top5))
    assert top1 >= 0.75 * len(SANITY)
