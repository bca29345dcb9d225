"""The try_it figure in headless Chromium: the page's Lite0, image and transforms against PyTorch's, a live
caricature of a shared photo and of a chosen file, what loads when, keyboard, touch, dark mode and file://.

Small sizes throughout: Chromium draws WebGL in software here (SwiftShader), correct but slow.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from caricatures.images import load_photo
from caricatures.metrics import compare
from caricatures.models import load_model
from caricatures.param import fft_image
from caricatures.transforms import PRESETS, Draw, apply_affine
from sitegen import web_export
from tests.conftest import ARTIFACTS, ROOT, _serve
from tests.test_views import PHONE

pytestmark = pytest.mark.browser
LITE0 = "efficientnet_lite0"
FIG = "#fig-try_it"
HEAVY = ("tf.min.js", "/models/", "/assets/js/tryit/", "/photo-")
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def tryit_site(tmp_path_factory):
    """The real article built with --quick --only try_it (the other figures are placeholders)."""
    from sitegen.config import BuildConfig
    from sitegen.pipeline import build

    tmp = tmp_path_factory.mktemp("try-it")
    build(BuildConfig(quick=True, only=("try_it",), out=tmp / "public", cache=tmp / "cache", jobs=0, progress=False))
    return tmp / "public"


@pytest.fixture(scope="module")
def tryit_url(tryit_site):
    yield from _serve(tryit_site)


@pytest.fixture(scope="module")
def reference():
    """Lite0 as the page computes it: BatchNorm folded, weights rounded to float16."""
    return web_export.rounded(load_model(LITE0))


def _open(open_page, url, backend=None, **options):
    """Open the page with the figure mounted; `backend` ("webgl" or "cpu") is the one TensorFlow.js must use."""
    probe = open_page(url, **(options or DESKTOP))
    page = probe.page
    if backend:
        page.evaluate(f"window.CARICATURES_TRYIT = {{backend: '{backend}'}}")
    page.wait_for_function(f"document.querySelector('{FIG}').dataset.mounted === 'ok'")
    return probe


LOAD = """async (backend) => {
  const data = JSON.parse(document.querySelector('#fig-try_it .figure-data').textContent).data;
  const model = await Caricatures.tryit.open(data.layers[data.layers.length - 1]);
  if (tf.getBackend() !== backend) throw new Error('backend ' + tf.getBackend());
  return data.layers.map(l => l.key);
}"""

ACTIVATIONS = """async ([pixels, size, names]) => {
  const data = JSON.parse(document.querySelector('#fig-try_it .figure-data').textContent).data;
  const model = await Caricatures.tryit.open(data.layers[data.layers.length - 1]);
  const out = tf.tidy(() => model.forward(tf.tensor(pixels, [1, size, size, 3]), names));
  const res = {};
  for (const n of names) res[n] = {shape: out[n].shape, data: Array.from(await out[n].data())};
  tf.dispose(Object.values(out));
  return res;
}"""


def _hwc(x: torch.Tensor) -> list[float]:
    """(3, H, W) or (1, C, H, W) → flat NHWC values."""
    return (x[0] if x.dim() == 4 else x).permute(1, 2, 0).reshape(-1).tolist()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["webgl", "cpu"])
def test_lite0_activations_match_pytorch_at_every_stage_end(open_page, tryit_url, reference, backend):
    page = _open(open_page, tryit_url + "index.html", backend).page
    ends = page.evaluate(LOAD, backend)
    assert ends == reference.meta["stage_ends"]
    for photo, size in (("animals/panda.jpg", 64), ("places/statueofliberty.jpg", 80), ("objects/coffee.jpg", 96)):
        x = load_photo(ROOT / "images" / photo, size)
        got = page.evaluate(ACTIVATIONS, [_hwc(x), size, ends])
        with torch.no_grad():
            want = reference.activations(x[None], ends)
        for name in ends:
            a = want[name][0].permute(1, 2, 0).numpy()
            b = np.array(got[name]["data"], dtype=np.float32).reshape(got[name]["shape"][1:])
            assert b.shape == a.shape, (name, size)
            err = np.linalg.norm(b - a) / np.linalg.norm(a)
            assert err < 1e-3, (backend, photo, size, name, err)


RENDER = """async ([spectrum, size, decorrelate]) => {
  const T = Caricatures.tryit, wr = Math.floor(size / 2) + 1;
  const img = new T.FFTImage(size, {decorrelate});
  const out = img.render(tf.tensor(spectrum, [2, 3, size, wr]));
  const v = Array.from(await out.data());
  out.dispose(); img.dispose();
  return v;
}"""

WARP = """async ([pixels, size, draw]) => {
  const T = Caricatures.tryit;
  const w = T.warper(T.plan(T.pixelMatrix(T.STANDARD, draw, size, size, [size, size]), size, size, size, size));
  const x = tf.tensor(pixels, [1, size, size, 3]), y = w.plain(x), v = Array.from(await y.data());
  tf.dispose([x, y]); w.dispose();
  return v;
}"""

WARP_GRAD = """async ([pixels, weights, size, draw]) => {
  const T = Caricatures.tryit;
  const w = T.warper(T.plan(T.pixelMatrix(T.STANDARD, draw, size, size, [size, size]), size, size, size, size));
  const x = tf.tensor(pixels, [1, size, size, 3]), r = tf.tensor(weights, [1, size, size, 3]);
  const g = tf.grad(y => tf.sum(tf.mul(w.apply(y), r)))(x), v = Array.from(await g.data());
  tf.dispose([x, r, g]); w.dispose();
  return v;
}"""

MODEL_GRAD = """async ([photo, image, size, layer]) => {
  const data = JSON.parse(document.querySelector('#fig-try_it .figure-data').textContent).data;
  const model = await Caricatures.tryit.open(data.layers.find(l => l.key === layer));
  const p = tf.tensor(photo, [1, size, size, 3]), x = tf.tensor(image, [1, size, size, 3]);
  const target = tf.tidy(() => model.forward(p, [layer])[layer]);
  const g = tf.grad(y => tf.sum(tf.mul(model.forward(y, [layer])[layer], target)))(x), v = Array.from(await g.data());
  tf.dispose([p, x, target, g]);
  return v;
}"""

REPEAT = """async () => {
  const T = Caricatures.tryit, data = JSON.parse(document.querySelector('#fig-try_it .figure-data').textContent).data;
  const model = await T.open(data.layers[0]), out = [];
  for (const seed of [0, 0, 1]) {
    const s = new T.Session({model, photo: new Float32Array(32 * 32 * 3).fill(0.3), size: 32, layer: 'block0', seed});
    await s.run(); await s.run();
    out.push(Array.from(await s.pixels()));
    s.dispose();
  }
  return out;
}"""

DRAWS = [Draw((0, 8), 0.9, -10.0, (4, 0)), Draw((5, 2), 1.1, 7.0, (1, 3)), Draw((8, 0), 1.0, 0.0, (2, 2))]


def _js_draw(d: Draw) -> dict:
    return {"offset": list(d.offset), "scale": d.scale, "angle": d.angle, "offset2": list(d.offset2)}


@pytest.mark.slow
def test_image_transforms_and_gradient_match_the_engine(open_page, tryit_url, reference):
    page = _open(open_page, tryit_url + "index.html", "webgl").page
    page.evaluate(LOAD, "webgl")
    for size in (64, 35):                                   # an odd size has no Nyquist column
        param = fft_image(size, sd=0.5, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            want = param.image()[0].permute(1, 2, 0).numpy()
        spectrum = param.tensors[0][0].detach().permute(3, 0, 1, 2).reshape(-1).tolist()
        got = np.array(page.evaluate(RENDER, [spectrum, size, True])).reshape(want.shape)
        assert np.abs(got - want).max() < 1e-5, size
        plain = np.array(page.evaluate(RENDER, [spectrum, size, False])).reshape(want.shape)
        assert np.abs(plain - want).max() > 1e-2                          # the colour matrix matters
    photo = load_photo(ROOT / "images/animals/chelsea_cat.jpg", 64)
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    for draw in DRAWS:
        with torch.no_grad():
            want = apply_affine(photo[None], PRESETS["standard"], draw, (64, 64))[0].permute(1, 2, 0).numpy()
        got = np.array(page.evaluate(WARP, [_hwc(photo), 64, _js_draw(draw)])).reshape(want.shape)
        assert np.abs(got - want).max() < 1e-4, draw
    runs = page.evaluate(REPEAT)                                  # seeds 0, 0, 1: a run repeats, seeds differ
    assert runs[0] == runs[1] and runs[0] != runs[2]
    # The gradients: the transform's (linear) on its own, then the network's on the same transformed images,
    # since ReLU6 makes the network's gradient jump when its input moves by float rounding.
    weights = torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(2))
    for draw in DRAWS:
        x = image[None].clone().requires_grad_(True)
        (apply_affine(x, PRESETS["standard"], draw, (64, 64)) * weights).sum().backward()
        want = x.grad[0].permute(1, 2, 0).numpy()
        got = np.array(page.evaluate(WARP_GRAD, [_hwc(image), _hwc(weights), 64, _js_draw(draw)])).reshape(want.shape)
        assert np.abs(got - want).max() < 1e-4 * np.abs(want).max(), draw
    with torch.no_grad():
        seen = [apply_affine(t[None], PRESETS["standard"], DRAWS[1], (64, 64)) for t in (photo, image)]
    for layer in ("block0", "block4", "block10"):
        y = seen[1].clone().requires_grad_(True)
        with torch.no_grad():
            target = reference.activations(seen[0], [layer])[layer]
        (reference.activations(y, [layer])[layer] * target).sum().backward()
        want = y.grad[0].permute(1, 2, 0).numpy()
        got = np.array(page.evaluate(MODEL_GRAD, [_hwc(seen[0]), _hwc(seen[1]), 64, layer])).reshape(want.shape)
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-3, layer


def test_nothing_heavy_loads_until_start_and_the_controls_work_by_keyboard(open_page, tryit_url):
    probe = _open(open_page, tryit_url + "index.html")
    page = probe.page
    page.locator(FIG).scroll_into_view_if_needed()
    page.wait_for_function(f"[...document.querySelectorAll('{FIG} .cv-choice-thumbs .cv-tile')]"
                           ".some(t => t.style.backgroundImage.includes('photos-0'))")
    page.wait_for_timeout(300)
    assert not [u for u in probe.requests if any(h in u for h in HEAVY)], probe.requests
    assert any(u.endswith("figures/try_it/photos-0.webp") for u in probe.requests)
    fig = page.locator(FIG)
    assert "Your photo stays on your device" in fig.inner_text()
    assert fig.locator("input[type=file][accept='image/*']").count() == 1            # no camera button here
    fig.locator("[role=radiogroup][aria-label=Photo] [role=radio]").first.focus()
    page.keyboard.press("ArrowRight")
    assert fig.locator("[role=radiogroup][aria-label=Photo] [aria-checked=true]").get_attribute("data-key") == "coffee"
    yours = fig.locator("[role=radiogroup][aria-label=Photo] [data-key=__yours]")
    assert yours.get_attribute("aria-disabled") == "true"
    fig.locator("[role=radiogroup][aria-label=Layer] [aria-checked=true]").focus()
    page.keyboard.press("End")
    assert "block 15 · 320 channels · 3×3" in fig.inner_text()      # 96 px / stride 32
    assert probe.errors == [] and probe.outside == []


def _run(page, photo: str, layer: str, size: int, steps: int, *, keyboard: bool = False, tap: bool = False) -> dict:
    """Pick the photo, layer, size and steps, press Start and wait until the run is done; return the figure's state."""
    fig = page.locator(FIG)
    fig.scroll_into_view_if_needed()
    (fig.locator(f"[role=radiogroup][aria-label=Photo] [data-key={photo}]").tap if tap else
     fig.locator(f"[role=radiogroup][aria-label=Photo] [data-key={photo}]").click)()
    fig.locator(f"[role=radiogroup][aria-label=Layer] [data-key={layer}]").click()
    fig.locator("select").nth(0).select_option(str(size))
    fig.locator("select").nth(1).select_option(str(steps))
    start = fig.locator("button", has_text="Start")
    if keyboard:
        start.focus()
        page.keyboard.press("Enter")
    elif tap:
        start.tap()
    else:
        start.click()
    page.wait_for_function(f"['done', 'error'].includes(document.querySelector('{FIG} .cv-tryit').dataset.state)",
                           timeout=300_000)
    return page.evaluate(f"({{...document.querySelector('{FIG} .cv-tryit').dataset}})")


SNAPSHOT = """async () => {
  const s = Caricatures.tryit.runner().session;
  return {image: Array.from(await s.pixels()), photo: Array.from(s.photo.dataSync()), size: s.size,
          step: s.step, tensors: tf.memory().numTensors};
}"""


def _torch_metrics(reference, snap: dict, layer: str) -> dict:
    size = snap["size"]
    img = torch.tensor(snap["image"]).reshape(1, size, size, 3).permute(0, 3, 1, 2)
    photo = torch.tensor(snap["photo"]).reshape(1, size, size, 3).permute(0, 3, 1, 2)
    with torch.no_grad():
        a, b = reference.activations(img, [layer])[layer], reference.activations(photo, [layer])[layer]
    return compare(a, b)


@pytest.mark.slow
def test_a_shared_photo_is_caricatured_and_gains_at_an_early_layer(open_page, tryit_url, reference):
    probe = _open(open_page, tryit_url + "index.html", "webgl")
    page = probe.page
    state = _run(page, "statueofliberty", "block0", 64, 64, keyboard=True)
    assert state["state"] == "done" and state["step"] == "64" and state["backend"] == "webgl"
    gain, cosine = float(state["gain"]), float(state["cosine"])
    assert gain > 1 and 0.5 < cosine < 1
    snap = page.evaluate(SNAPSHOT)
    want = _torch_metrics(reference, snap, "block0")
    assert abs(gain - want["gain"]) < 1e-3 * want["gain"] and abs(cosine - want["cosine"]) < 1e-3
    fig = page.locator(FIG)
    assert "step 64 / 64" in fig.inner_text() and "gain" in fig.inner_text()
    with page.expect_download() as info:
        fig.locator("button", has_text="Download PNG").click()
    download = info.value
    assert download.suggested_filename == "caricature-statueofliberty-block0-64px-64steps.png"
    with Image.open(download.path()) as im:
        png = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert png.shape == (64, 64, 3)
    assert np.abs(png / 255 - np.array(snap["image"]).reshape(64, 64, 3)).max() < 1 / 255 + 1e-6
    data = f"document.querySelector('{FIG} .cv-tryit').dataset"
    fig.locator("button", has_text="Continue").click()                # to step 128: stop it on the way
    page.wait_for_function(f"Number({data}.step) > 64", timeout=300_000)
    fig.locator("button", has_text="Stop").click()
    page.wait_for_function(f"{data}.state === 'stopped'", timeout=300_000)
    assert 64 < int(page.evaluate(f"{data}.step")) < 128
    fig.locator("button", has_text="Continue").click()                # continue where it stopped
    page.wait_for_function(f"{data}.state === 'done'", timeout=300_000)
    assert page.evaluate(f"{data}.step") == "128" and "Done after 128 steps" in fig.inner_text()
    assert page.evaluate(SNAPSHOT)["tensors"] == snap["tensors"]      # no tensors left behind
    assert float(page.get_attribute(f"{FIG} .cv-tryit", "data-gain")) > gain
    fig.locator("[role=radiogroup][aria-label=Layer] [data-key=block2]").click()   # another run's settings
    assert page.evaluate(f"{data}.state") == "idle" and fig.locator("button", has_text="Continue").is_disabled()
    assert fig.locator("canvas[aria-label=caricature]").is_hidden() and "Press Start" in fig.inner_text()
    assert probe.errors == [] and probe.outside == []


@pytest.mark.slow
def test_a_chosen_file_is_caricatured_from_file_url_on_a_phone_in_dark_mode(open_page, tryit_site, tmp_path):
    photo = np.zeros((90, 150, 3), np.uint8)                          # landscape: the page crops the centre
    photo[:, :, 2] = 200
    photo[20:70, 50:100] = (230, 40, 30)
    path = tmp_path / "my holiday.png"
    Image.fromarray(photo).save(path)
    inside = tryit_site.as_uri() + "/"
    probe = _open(open_page, tryit_site.as_uri() + "/index.html", inside=inside, color_scheme="dark", **PHONE)
    page = probe.page
    fig = page.locator(FIG)
    fig.scroll_into_view_if_needed()
    assert fig.locator("input[type=file][accept='image/*'][capture]").count() == 1       # the phone's camera
    fig.locator("input[type=file]").first.set_input_files(str(path))
    page.wait_for_function(f"document.querySelector('{FIG} [data-key=__yours]').getAttribute('aria-checked') === 'true'")
    state = _run(page, "__yours", "block0", 64, 32, tap=True)
    assert state["state"] == "done" and state["step"] == "32"
    snap = page.evaluate(SNAPSHOT)
    seen = np.array(snap["photo"]).reshape(64, 64, 3)
    want = np.asarray(Image.fromarray(photo[:, 30:120]).resize((64, 64), Image.BILINEAR), np.float32) / 255
    assert np.abs(seen - want)[8:-8, 8:-8].mean() < 0.02                # the centre square, resized
    image = np.array(snap["image"]).reshape(64, 64, 3)
    assert image.std() > 0.02 and float(state["cosine"]) > 0.3
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(22, 22, 22)"
    assert probe.errors == [] and probe.outside == []
    assert all(u.startswith((inside, "data:", "blob:")) for u in probe.requests), probe.requests
    ARTIFACTS.mkdir(exist_ok=True)
    fig.screenshot(path=str(ARTIFACTS / "try_it-phone-dark.png"))


READ = """async () => {
  const data = JSON.parse(document.querySelector('#fig-try_it .figure-data').textContent).data;
  await Caricatures.tryit.open(data.layers[0]);          // loads the try-it scripts
  const c = document.createElement('canvas');
  c.width = 3; c.height = 2;
  const ctx = c.getContext('2d'), img = ctx.createImageData(3, 2);
  const px = [255, 128, 0, 1, 254, 51, 10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 100, 0];
  for (let i = 0; i < 6; i++) img.data.set([px[3 * i], px[3 * i + 1], px[3 * i + 2], 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  return {px, got: Array.from(Caricatures.tryit.read(c))};
}"""


def test_the_photo_is_read_into_0_1_as_the_engine_reads_it(open_page, tryit_url):
    """A canvas's bytes become byte / 255 in row-major RGB order (as load_photo's x / 255): 255 reads as 1."""
    probe = _open(open_page, tryit_url + "index.html")
    out = probe.page.evaluate(READ)
    want = np.array(out["px"], np.float32) / np.float32(255)
    assert np.array_equal(np.array(out["got"], np.float32), want), (out["got"], want.tolist())
    assert out["got"][0] == 1.0 and probe.errors == []
