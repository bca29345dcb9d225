"""Steps per second of the in-browser caricature (figure try_it) in headless Chromium, per backend and size.

    python build.py --quick --only try_it          # the page, with the weights and photos it loads
    .venv/bin/python bench/bench_tryit.py [--public public] [--layer block7] [--steps 10] [--sizes 64 128 224]

Each (backend, size) runs in a fresh page from file://: the engine's Session on the panda at the layer,
two warm-up steps (the first compiles WebGL's shaders), then --steps timed steps, each waited for. Chromium
draws WebGL in software here (SwiftShader, on the CPU), so a laptop's GPU is much faster than the WebGL
figure below; the CPU backend is TensorFlow.js's plain-JavaScript one.

`--defaults` instead times what a reader waits for: from pressing Start with the figure's default photo, layer,
size and steps, in a fresh page (TensorFlow.js and the weights not yet loaded), until the run is done.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

RUN = """async ([layer, size, steps]) => {
  const T = Caricatures.tryit;
  const data = JSON.parse(document.querySelector('#fig-try_it .figure-data').textContent).data;
  const model = await T.open(data.layers.find(l => l.key === layer));
  const p = await T.payload(data.photos.find(q => q.key === 'panda').file), img = new Image();
  img.src = p.url;
  await img.decode();
  const s = new T.Session({model, photo: T.read(T.square(img, size)), size, layer});
  await s.run(); await s.run();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await s.run();
  const seconds = (performance.now() - t0) / 1000;
  s.dispose();
  return {backend: tf.getBackend(), rate: steps / seconds};
}"""


START_TO_DONE = """async () => {
  const fig = document.querySelector('#fig-try_it'), root = fig.querySelector('.cv-tryit');
  const start = [...fig.querySelectorAll('button')].find(b => b.textContent === 'Start');
  const t0 = performance.now();
  start.click();
  while (!['done', 'error'].includes(root.dataset.state)) await new Promise(r => setTimeout(r, 50));
  const init = JSON.parse(fig.querySelector('.figure-data').textContent).data.initial;
  return {...init, state: root.dataset.state, backend: root.dataset.backend, seconds: (performance.now() - t0) / 1000};
}"""


def time_defaults(browser, url: str, backend: str) -> None:
    """Print the seconds from Start to done with the figure's defaults, in a fresh page."""
    page = browser.new_page()
    page.add_init_script(f"window.CARICATURES_TRYIT = {{backend: '{backend}'}}")
    page.goto(url)
    page.wait_for_function("document.querySelector('#fig-try_it').dataset.mounted === 'ok'")
    out = page.evaluate(START_TO_DONE)
    print(f"{out['backend']:>6} defaults ({out['photo']}, {out['layer']}, {out['size']} px, {out['steps']} steps): "
          f"{out['state']} in {out['seconds']:.1f} s from Start", flush=True)
    page.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--public", type=Path, default=ROOT / "public")
    ap.add_argument("--layer", default="block7")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 224])
    ap.add_argument("--backends", nargs="+", default=["webgl", "cpu"])
    ap.add_argument("--defaults", action="store_true", help="time Start to done at the figure's defaults")
    a = ap.parse_args(argv)
    url = (a.public.resolve() / "index.html").as_uri()
    if not a.defaults:
        print(f"steps/s at {a.layer}, {a.steps} timed steps, headless Chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for backend in a.backends if a.defaults else ():
            time_defaults(browser, url, backend)
        for backend in a.backends:
            for size in () if a.defaults else a.sizes:
                page = browser.new_page()
                page.add_init_script(f"window.CARICATURES_TRYIT = {{backend: '{backend}'}}")
                page.goto(url)
                page.wait_for_function("document.querySelector('#fig-try_it').dataset.mounted === 'ok'")
                out = page.evaluate(RUN, [a.layer, size, a.steps])
                print(f"{out['backend']:>6} {size:>4} px  {out['rate']:6.2f} steps/s", flush=True)
                page.close()
        browser.close()


if __name__ == "__main__":
    main()
