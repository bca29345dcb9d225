"""Attribution on a linear network with closed-form gradients: a = W1·x, b = W2·a per pixel,
logits = W3·Σ_xy b. Class logit, logit difference, hidden-layer energy, iterated attribution, maps."""
import numpy as np
import pytest
import torch

from caricatures.attribution import (
    attribute,
    attribution_map,
    iterated_attribution,
    layer_energy,
    logit,
    logit_diff,
)
from tests.engine_models import linear_model

RNG = np.random.default_rng(0)
W1, W2, W3 = RNG.normal(size=(4, 3)), RNG.normal(size=(5, 4)), RNG.normal(size=(6, 5))
X = RNG.normal(size=(3, 8, 8))
A = np.einsum("ij,jhw->ihw", W1, X)
B = np.einsum("ij,jhw->ihw", W2, A)
W4 = RNG.normal(size=(3, 5))          # a third hidden layer c = W4·b, for iterating over three layers
C = np.einsum("ij,jhw->ihw", W4, B)


def model():
    return linear_model(*(torch.tensor(w, dtype=torch.float32) for w in (W1, W2, W3)))


def image():
    return torch.tensor(X, dtype=torch.float32)


def norm(attr):
    return attr / attr.max()


def test_class_logit_attribution_closed_form():
    got = attribute(model(), image(), ["a", "b"], logit(2))
    np.testing.assert_allclose(got["a"].numpy(), norm(A * (W2.T @ W3[2])[:, None, None]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["b"].numpy(), norm(B * W3[2][:, None, None]), rtol=1e-4, atol=1e-5)
    assert got["a"].max().item() == pytest.approx(1.0)


def test_logit_difference_closed_form():
    got = attribute(model(), image(), "a", logit_diff(1, 4))["a"]
    np.testing.assert_allclose(got.numpy(), norm(A * (W2.T @ (W3[1] - W3[4]))[:, None, None]), rtol=1e-4,
                               atol=1e-5)


def test_hidden_layer_energy_closed_form():
    got = attribute(model(), image(), "a", layer_energy("b"))["a"]
    np.testing.assert_allclose(got.numpy(), norm(A * np.einsum("ji,jhw->ihw", W2, 2 * B)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="comes after"):
        attribute(model(), image(), "logits", layer_energy("b"))


def test_iterated_attribution_closed_form():
    got = iterated_attribution(model(), image(), ["a", "b"], logit(3))
    attr_b = norm(B * W3[3][:, None, None])
    attr_a = norm(A * np.einsum("ji,jhw->ihw", W2, attr_b))
    np.testing.assert_allclose(got["b"].numpy(), attr_b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["a"].numpy(), attr_a, rtol=1e-4, atol=1e-5)
    default = iterated_attribution(model(), image(), ["b", "a"])  # start: Σ b² at the top layer
    np.testing.assert_allclose(default["b"].numpy(), norm(2 * B * B), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(default["a"].numpy(), norm(A * np.einsum("ji,jhw->ihw", W2, norm(2 * B * B))),
                               rtol=1e-4, atol=1e-5)


def deep_model():
    return linear_model(*(torch.tensor(w, dtype=torch.float32) for w in (W1, W2, W4, W3[:, :3])))


def test_iterated_attribution_holds_each_layers_attribution_constant():
    """Over three layers the layer below sees the one above only as constant weights: with a gradient
    through attr_b as well, attr_a would change (with two layers it cannot, attr_top comes from its own pass)."""
    got = iterated_attribution(deep_model(), image(), ["c", "a", "b"], logit(1))
    attr_c = norm(C * W3[1, :3][:, None, None])
    attr_b = norm(B * np.einsum("ji,jhw->ihw", W4, attr_c))
    attr_a = norm(A * np.einsum("ji,jhw->ihw", W2, attr_b))
    for name, want in (("c", attr_c), ("b", attr_b), ("a", attr_a)):
        np.testing.assert_allclose(got[name].numpy(), want, rtol=1e-4, atol=1e-5, err_msg=name)
    default = iterated_attribution(deep_model(), image(), ["a", "b", "c"])  # start: Σ c² at the top layer
    attr_c = norm(2 * C * C)
    attr_b = norm(B * np.einsum("ji,jhw->ihw", W4, attr_c))
    attr_a = norm(A * np.einsum("ji,jhw->ihw", W2, attr_b))
    for name, want in (("c", attr_c), ("b", attr_b), ("a", attr_a)):
        np.testing.assert_allclose(default[name].numpy(), want, rtol=1e-4, atol=1e-5, err_msg=name)


def test_attribution_map_sums_channels():
    attr = torch.tensor(RNG.normal(size=(3, 4, 5)))
    s = attr.sum(0).numpy()
    np.testing.assert_allclose(attribution_map(attr, signed=True).numpy(), s / np.abs(s).max())
    np.testing.assert_allclose(attribution_map(attr).numpy(), np.abs(s) / np.abs(s).max())
