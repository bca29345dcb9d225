"""Shared by the figure scripts: curated photo sets, photo labels, models and reading runs' results.

A figure declares its runs (sitegen.runs: `caricature`, `channel`, `attribution`) in `runs(spec)`; its
`make(spec, config)` reads them back with `config.result(run)`, or `one(config, run, i)` for photo i of a
batched caricature run. Two figures that declare the same run share one computation.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from caricatures.images import photo_credits
from caricatures.models.base import Model
from sitegen.contract import ROOT, FigureConfig
from sitegen.runs import ModelRef, Run, photo_view

# Twelve varied photos (animals, objects, people, places) for the teaser; the first eight are the
# comparison set used wherever several models or settings are put side by side.
TEASER = (
    "images/animals/panda.jpg", "images/objects/coffee.jpg", "images/places/statueofliberty.jpg",
    "images/animals/scarlet_macaw.jpg", "images/objects/grace_hopper.jpg", "images/animals/chelsea_cat.jpg",
    "images/objects/volleyball.jpg", "images/places/neuschwansteincastle.jpg", "images/animals/koala.jpg",
    "images/objects/windmill.jpg", "images/animals/hedgehog.jpg", "images/objects/astronaut.jpg",
)
COMPARE = TEASER[:8]
NAMES = {  # display names where the credited title is a run-together file name
    "coffee": "Coffee cup", "blackslate": "Blackboard slate", "multimeter1": "Multimeter",
    "ajantacave": "Ajanta Caves", "arlesamphitheater": "Arles Amphitheatre",
    "canyondechelly": "Canyon de Chelly", "castillodesanmarcos": "Castillo de San Marcos",
    "castleclinton": "Castle Clinton", "chateaudechenonceau": "Château de Chenonceau",
    "citedecarcassonne": "Cité de Carcassonne", "fortsumter": "Fort Sumter",
    "gatewayofindia": "Gateway of India", "georgewashingtonbirthplace": "George Washington Birthplace",
    "goldentemple": "Golden Temple", "greatpyramidofgiza": "Great Pyramid of Giza",
    "greatstupa": "Great Stupa", "hawamahal": "Hawa Mahal", "konarksuntemple": "Konark Sun Temple",
    "lincolnmemorial": "Lincoln Memorial", "machupicchu": "Machu Picchu", "meidumpyramid": "Meidum Pyramid",
    "montstmichel": "Mont-Saint-Michel", "mysorepalace": "Mysore Palace",
    "neuschwansteincastle": "Neuschwanstein Castle", "rangghar": "Rang Ghar", "redpyramid": "Red Pyramid",
    "reimscathedral": "Reims Cathedral", "schwerinpalace": "Schwerin Palace",
    "statueofliberty": "Statue of Liberty", "trierimperialbaths": "Trier Imperial Baths",
    "wormscathedral": "Worms Cathedral",
    "buffetset": "Cup and saucer", "plier1": "Pliers", "screw_driver1": "Screwdriver", "solar1": "Solar cooker",
    "cabrillo": "Cabrillo", "navajo": "Navajo", "rocamadour": "Rocamadour",
}


def all_photos() -> tuple[str, ...]:
    """Return every credited photo as a path relative to the repository, sorted by set then name."""
    return tuple(f"images/{f}" for f in sorted(photo_credits(ROOT / "images")))


def photo_key(path: str) -> str:
    """Return a short stable key for a photo path: its file stem."""
    return Path(path).stem


def photo_set(path: str) -> str:
    """Return the photo's set: animals, objects or places."""
    return Path(path).parent.name


def _plain(title: str) -> str:
    """Return a credited title as a display name: underscores as spaces, first letter capitalized, trailing digits (a file
    name's counter, "hammer1") dropped."""
    name = re.sub(r"\s*\d+$", "", title.replace("_", " ")).strip() or title
    return name[:1].upper() + name[1:]


def photo_label(path: str) -> str:
    """Return the photo's display name: from NAMES, else its credited title without a file name's counter
    ("hammer1" → "Hammer"), else its file name. Photos whose names would then coincide ("fish10", "fish5")
    are numbered in the order `all_photos` lists them ("Fish 1", "Fish 2", …)."""
    if photo_key(path) in NAMES:
        return NAMES[photo_key(path)]
    credits = photo_credits(ROOT / "images")
    entry = credits.get(str(Path(path).relative_to("images")))
    if not entry:
        return photo_key(path)
    name = _plain(entry["title"])
    same = sorted(f for f, e in credits.items() if Path(f).stem not in NAMES and _plain(e["title"]) == name)
    return f"{name} {same.index(entry['file']) + 1}" if len(same) > 1 else name


def ref(name: str, weights: str = "imagenet", seed: int = 0, reinit: tuple[str, ...] = (),
        preprocess: str | None = None) -> ModelRef:
    """Return the reference to a model of the zoo that runs name (see sitegen.runs.ModelRef)."""
    return ModelRef(name, weights, seed, tuple(reinit), preprocess)


def model_for(name: str, weights: str = "imagenet", seed: int = 0, reinit: tuple[str, ...] = (),
              preprocess: str | None = None) -> Model:
    """Load a model (once per process: figure scripts ask for the same model many times)."""
    return ref(name, weights, seed, reinit, preprocess).load()


def one(config: FigureConfig, run: Run, i: int = 0) -> dict[str, np.ndarray]:
    """Return photo i's slice of a caricature run's result (see sitegen.runs.photo_view)."""
    return photo_view(config.result(run), i)


def models_note(*models: Model) -> dict[str, str]:
    """Return {model name (and weights when not ImageNet): weights SHA-256} for provenance."""
    return {m.name if m.weights == "imagenet" else f"{m.name} ({m.weights})": m.weights_sha256 or ""
            for m in models}
