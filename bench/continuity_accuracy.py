"""How well the continuity rules find planted errors, stay quiet on clean cuts, and fix what they find.

Four sets of cuts, printed as tables (no assertions; run by hand):

A. plates: frames the renderer does not vouch for (two scenes at one
   location), synthetic crops of one procedural set, errors planted in the
   pixels (gain, colour cast, contrast about the key, saturation).
B. renders: tiny renders of the example courtyard from random cameras under
   one rig, errors planted as wrong shot grades. Clean cuts here are real
   framing changes, so their false positives are the ones that matter.
C. specs: random staging, lights, tags and formats for the spec-only rules.
D. the example sequence at 320x180: each planted error found, fixed, clean.

Magnitudes are multiples of each rule's warn threshold (for the 30-degree
rule, the angle is 30 degrees divided by it). Run from the repository root,
optionally naming sections:
    .venv/bin/python bench/continuity_accuracy.py [A] [B] [C] [D]
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.color.cdl import CDL
from pipelines.color.temperature import acescg_to_xy, kelvin_to_acescg
from pipelines.continuity.check import check_cut
from pipelines.continuity.cut import Cut, CutSide
from pipelines.continuity.findings import Grade, Requeue, Review, Severity, apply_patch
from pipelines.continuity.rules import RULES
from pipelines.continuity.rules.staging import MIN_SCREEN_SPEED
from pipelines.render.engines.pathtracer import PathTracer
from pipelines.spec.loading import load_sequence
from pipelines.spec.scene import Camera, CameraKey, MotionKey

MAGNITUDES = (1.1, 1.25, 1.5, 2.0, 3.0)
PER_MAGNITUDE = 20
EXAMPLE = Path(__file__).parents[1] / "examples" / "continuity_errors.yaml"
rng = random.Random(7)


class Tally:
    def __init__(self, rules: tuple[str, ...] = tuple(RULES), ignore: tuple[str, ...] = ()) -> None:
        self.rules = {name: RULES[name] for name in rules}
        self.ignore = set(ignore)  # findings that are a property of the set-up, not of the cut
        self.hits: dict[str, dict[float, list[bool]]] = defaultdict(lambda: defaultdict(list))
        self.fixed: dict[str, list[bool]] = defaultdict(list)
        self.clean: list[set[str]] = []
        self.residual: list[float] = []
        self.unvouched: list[set[str]] = []  # clean cuts judged frame against frame
        self.reviewed: set[str] = set()  # rules whose findings here ask a person instead of fixing
        self.true_residual: list[float] = []

    def planted(self, rule: str, magnitude: float, cut: Cut) -> list:
        found = [f for f in check_cut(cut, self.rules) if f.severity != Severity.INFO and f.rule not in self.ignore]
        self.reviewed |= {f.rule for f in found if f.rule == rule and isinstance(f.fix, Review)}
        self.hits[rule][magnitude].append(any(f.rule == rule for f in found))
        return found

    def quiet(self, cut: Cut) -> None:
        found = check_cut(cut, self.rules)
        self.clean.append({f.rule for f in found if f.severity != Severity.INFO and f.rule not in self.ignore})

    def report(self, title: str) -> None:
        print(f"\n== {title}")
        print(f"{'rule':18}" + "".join(f"{m:>7}x" for m in MAGNITUDES) + "   recall   fixed")
        for rule, by_m in self.hits.items():
            cells = "".join(f"{sum(by_m[m]) / len(by_m[m]):8.2f}" if by_m[m] else "       -" for m in MAGNITUDES)
            every = [h for hs in by_m.values() for h in hs]
            fixed = self.fixed.get(rule)
            fixed_s = f"{sum(fixed) / len(fixed):7.2f}" if fixed else " review" if rule in self.reviewed else "      -"
            print(f"{rule:18}{cells}  {sum(every) / len(every):7.3f} {fixed_s}   (n={len(every)})")
        print(_fp_line("clean cuts", self.clean))
        if self.unvouched:
            print(_fp_line("the same clean cuts judged frame against frame (as if two scenes)", self.unvouched))
        if self.residual:
            print(_residual_line("exposure residual after the grade fix, as the rule judges it", self.residual))
        if self.true_residual:
            print(_residual_line("exposure residual against the frame before the error was planted", self.true_residual))


def _fp_line(label: str, cuts: list[set[str]]) -> str:
    by_rule: dict[str, int] = defaultdict(int)
    for rules in cuts:
        for r in rules:
            by_rule[r] += 1
    noisy = sum(1 for rules in cuts if rules)
    return f"{label}: {len(cuts)}, with any warn/error: {noisy} (FP rate {noisy / len(cuts):.3f}) {dict(by_rule) or ''}"


def _residual_line(label: str, values: list[float]) -> str:
    r = sorted(abs(x) for x in values)
    return f"{label}: mean {statistics.mean(r):.4f}, p95 {r[int(0.95 * len(r))]:.4f}, max {r[-1]:.4f} stops (n={len(r)})"


def regraded(cut: Cut, cdl: CDL | None) -> Cut:
    return cut.with_right(dataclasses.replace(cut.right, shot=cut.right.shot.model_copy(update={"grade": cdl})))


def apply_fixes(cut: Cut, found: list) -> Cut:
    for f in found:
        if isinstance(f.fix, Grade):
            cut = regraded(cut, f.fix.cdl)
        elif isinstance(f.fix, Requeue):
            cut = cut.with_right(cut.right.patched(f.fix.patch))
    return cut


def still_fires(rule: str, cut: Cut) -> bool:
    m = RULES[rule].measure(cut)
    return m is not None and RULES[rule].judge(m) is not None


def log_key(px: np.ndarray) -> float:
    """log2 geometric-mean AP1 luminance of the lit pixels, computed here on its own."""
    y = (px @ np.array([0.2722287, 0.6740818, 0.0536895])).ravel()
    return float(np.log2(y[y > y.mean() * 2**-12]).mean())


def score_fix(t: Tally, rule: str, cut: Cut, found: list, truth: np.ndarray | None = None) -> None:
    """Of the planted errors found and fixed automatically, how many the fixes actually remove.

    `truth` is the right frame as it was before the error was planted: the
    exposure it should get back to, whatever the left frame shows.
    """
    if any(f.rule == rule and not isinstance(f.fix, Review) for f in found):
        after = apply_fixes(cut, found)
        t.fixed[rule].append(not still_fires(rule, after))
        if rule == "exposure" and truth is not None and after.right.shot.grade is not None:
            t.true_residual.append(log_key(after.right.shot.grade.apply(cut.right.pixels)) - log_key(truth))
        m = RULES["exposure"].measure(after)
        if rule == "exposure" and m:
            # What the rule judges: the grades' share on one rig, the frames' difference otherwise.
            t.residual.append(m["grade_stops"] if m["same_rig"] else m["stops"])


# -- plants -------------------------------------------------------------------

def neutral_duv(gains: np.ndarray) -> float:
    """Δuv a per-channel gain gives a neutral grey: the planted magnitude of a cast."""
    def uv(rgb):
        x, y = acescg_to_xy(rgb)
        d = 12 * y - 2 * x + 3
        return 4 * x / d, 6 * y / d
    (a, b), (c, d) = uv((1.0, 1.0, 1.0)), uv(tuple(gains))
    return math.hypot(c - a, d - b)


def cast_gains(duv: float, warmer: bool) -> np.ndarray:
    """Gains moving 5600 K light along the Planckian locus until a grey shifts by `duv`."""
    lo, hi = 0.0, (400.0 if warmer else 150.0)  # mired; 150 bluer than 5600 K is already 40000 K
    for _ in range(40):
        mired = (lo + hi) / 2
        k = 1e6 / (1e6 / 5600 + (mired if warmer else -mired))
        g = np.array(kelvin_to_acescg(k)) / np.array(kelvin_to_acescg(5600))
        lo, hi = (mired, hi) if neutral_duv(g) < duv else (lo, mired)
    return g.astype(np.float32)


def pivot_contrast(px: np.ndarray, log2p: float) -> np.ndarray:
    y = px @ np.array([0.2722, 0.6741, 0.0537], np.float32)
    key = np.float32(np.exp2(np.log2(np.maximum(y, 1e-8)).mean()))
    return (key * (np.maximum(px, 0) / key) ** np.float32(2**log2p)).astype(np.float32)


THRESHOLDS = {r: RULES[r].threshold for r in ("exposure", "white_balance", "contrast", "saturation")}


def pixel_plant(rule: str, px: np.ndarray, m: float) -> np.ndarray:
    sign = rng.choice((-1, 1))
    size = m * THRESHOLDS[rule]
    if rule == "exposure":
        return px * np.float32(2 ** (sign * size))
    if rule == "white_balance":
        return px * cast_gains(size, sign > 0)
    if rule == "contrast":
        return pivot_contrast(px, sign * size)
    return CDL(saturation=2 ** (sign * size)).apply(px)


def log_spread(px: np.ndarray) -> float:
    """std of log2 AP1 luminance over the lit pixels: the contrast statistic, computed here on its own."""
    y = (px @ np.array([0.2722287, 0.6740818, 0.0536895])).ravel()
    y = y[y > y.mean() * 2**-12]
    return float(np.log2(y).std())


def power_for(px: np.ndarray, log2_ratio: float) -> float:
    """The CDL power that changes this frame's luminance contrast by 2**log2_ratio.

    Not simply 2**log2_ratio: on coloured pixels a power moves luminance
    contrast a little less than it moves each channel's.
    """
    base, lo, hi = log_spread(px), 0.3, 3.0
    for _ in range(30):
        p = math.sqrt(lo * hi)
        lo, hi = (p, hi) if math.log2(log_spread(CDL(power=(p,) * 3).apply(px)) / base) < log2_ratio else (lo, p)
    return math.sqrt(lo * hi)


def grade_plant(rule: str, m: float, px: np.ndarray) -> CDL:
    sign = rng.choice((-1, 1))
    size = m * THRESHOLDS[rule]
    if rule == "exposure":
        return CDL(slope=(2 ** (sign * size),) * 3)
    if rule == "white_balance":
        return CDL(slope=tuple(float(g) for g in cast_gains(size, sign > 0)))
    if rule == "contrast":
        return CDL(power=(power_for(px, sign * size),) * 3)
    return CDL(saturation=2 ** (sign * size))


# -- A: plates -----------------------------------------------------------------


def texture(size: tuple[int, int] = (720, 1280)) -> np.ndarray:
    """A procedural set: 1.2 stops of smooth light variation over muted materials, with grain."""
    h, w = size
    g = np.random.default_rng(3)

    def smooth(cells: tuple[int, int], resample=Image.Resampling.BICUBIC) -> np.ndarray:
        return np.asarray(Image.fromarray(g.normal(size=cells).astype(np.float32)).resize((w, h), resample))

    # Light varies within a crop more than between crops, as on one set seen from nearby angles.
    light = sum(smooth((120 * 2**o, 213 * 2**o)) / 2**o for o in range(2))
    light = -2.2 + 1.0 * light / light.std()
    palette = np.array([[0.9, 0.8, 0.65], [0.5, 0.55, 0.6], [0.75, 0.5, 0.35], [0.45, 0.5, 0.4], [0.8, 0.78, 0.75]])
    regions = np.asarray(Image.fromarray(g.integers(0, len(palette), (144, 256)).astype(np.uint8)).resize(
        (w, h), Image.Resampling.NEAREST))
    return (np.exp2(light)[..., None] * palette[regions]).astype(np.float32)


def crop(tex: np.ndarray, h: int = 90, w: int = 160) -> np.ndarray:
    zoom = rng.uniform(1.0, 1.3)
    ch, cw = int(h * zoom), int(w * zoom)
    y, x = rng.randrange(tex.shape[0] - ch), rng.randrange(tex.shape[1] - cw)
    region = tex[y : y + ch, x : x + cw]
    px = np.stack([np.asarray(Image.fromarray(region[..., c]).resize((w, h), Image.Resampling.BOX)) for c in range(3)], -1)
    return px * np.exp(np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.05, px.shape)).astype(np.float32)


def plates(seq, tex) -> Tally:
    t = Tally()
    left_side = CutSide.of(seq, "sh010", 1020, None)
    right_side = CutSide.of(seq, "sh020", 1021, None)
    # Another scene at the same location: the renderer does not vouch for these frames.
    right_side = right_side.with_shot(right_side.shot.model_copy(update={"scene": "plate", "lights": None}))

    def cut(a, b):
        return Cut(dataclasses.replace(left_side, pixels=a), dataclasses.replace(right_side, pixels=b))

    for _ in range(200):
        t.quiet(cut(crop(tex), crop(tex)))
    for rule in THRESHOLDS:
        for m in MAGNITUDES:
            for _ in range(PER_MAGNITUDE):
                truth = crop(tex)
                c = cut(crop(tex), pixel_plant(rule, truth, m))
                score_fix(t, rule, c, t.planted(rule, m, c), truth)
    return t


# -- B: rendered framings under one rig ----------------------------------------


def renders(seq, count: int = 60) -> list[tuple[Camera, np.ndarray]]:
    tiny = seq.with_quality(resolution=(96, 54), samples=8)
    base = CutSide.of(tiny, "sh010", 1020, None)
    engine = PathTracer()
    out = []
    for _ in range(count):
        az, r, hgt = math.radians(rng.uniform(-70, 70)), rng.uniform(3.5, 8.0), rng.uniform(0.8, 3.0)
        cam = Camera(keys=(CameraKey(frame=0, position=(r * math.sin(az), hgt, r * math.cos(az)),
                                     look_at=(0.0, 0.6, 0.0), fov=rng.uniform(30, 50)),))
        engine.load(base.setup.model_copy(update={"camera": cam}))
        out.append((cam, engine.render(1020).numpy()))
    return out


def rendered(seq, frames) -> Tally:
    # Random cameras make real jump cuts and line crossings; those rules are section C's business.
    t = Tally(rules=("format", "tags", "lighting", *THRESHOLDS))
    left_side, right_side = CutSide.of(seq, "sh010", 1020, None), CutSide.of(seq, "sh020", 1021, None)
    # sh020 overrides the sun; give it the scene's lights so the two are one rig.
    right_side = right_side.with_shot(right_side.shot.model_copy(update={"lights": None}))

    def cut(a, b, grade=None):
        (ca, pa), (cb, pb) = a, b
        left = left_side.with_shot(left_side.shot.model_copy(update={"camera": ca}))
        right = right_side.with_shot(right_side.shot.model_copy(update={"camera": cb, "grade": grade}))
        return Cut(dataclasses.replace(left, pixels=pa), dataclasses.replace(right, pixels=pb))

    unvouched = Tally(rules=t.rules)
    for _ in range(200):
        a, b = rng.sample(frames, 2)
        t.quiet(cut(a, b))
        # The same two frames, had they come from two scenes at one location: a frame comparison.
        c = cut(a, b)
        unvouched.quiet(c.with_right(dataclasses.replace(c.right, shot=c.right.shot.model_copy(update={"scene": "plate"}))))
    t.unvouched = unvouched.clean
    for rule in THRESHOLDS:
        for m in MAGNITUDES:
            for _ in range(PER_MAGNITUDE):
                a, b = rng.sample(frames, 2)
                c = cut(a, b, grade_plant(rule, m, b[1]))
                score_fix(t, rule, c, t.planted(rule, m, c), b[1])
    return t


# -- C: the spec-only rules -----------------------------------------------------


def staged(seq, left_cam: tuple, right_cam: tuple, motion=None, axis=True, right_changes=None) -> Cut:
    """A cut of two shots of the courtyard with these cameras (position, look_at) and ball motion."""
    scene = seq.scenes["courtyard"]
    objects = tuple(o.model_copy(update={"motion": motion or ()}) if o.name == "ball" else o for o in scene.objects)
    scene = scene.model_copy(update={"objects": objects, "action_axis": scene.action_axis if axis else None})

    def side(name: str, frame: int, cam: tuple, changes: dict) -> CutSide:
        s = CutSide.of(seq, name, frame, None)
        s = dataclasses.replace(s, setup=s.setup.model_copy(update={"scene": scene}))
        keys = (CameraKey(frame=0, position=cam[0], look_at=cam[1], fov=cam[2] if len(cam) > 2 else 40.0),)
        return s.with_shot(s.shot.model_copy(update={"camera": Camera(keys=keys), "lights": None} | changes))

    return Cut(side("sh010", 1020, left_cam, {}), side("sh020", 1021, right_cam, right_changes or {}))


def orbit(az: float, r: float = 5.5, h: float = 1.4, fov: float = 40.0) -> tuple:
    a = math.radians(az)
    return ((r * math.sin(a), h, r * math.cos(a)), (0.0, 0.5, 0.0), fov)


def true_speeds(left_cam: tuple, right_cam: tuple, v: float) -> tuple[float, float]:
    """Screen speeds (frame widths a frame) of the ball rolling at v along X, by a separate pinhole model.

    The ball rolls from -11.5 v to +11.5 v over shot-relative frames 0-23;
    the left shot is seen at its frames 18-19, the right at 0-1.
    """
    def x(cam: tuple, offset: float) -> float:
        pos, look, fov = (np.array(cam[0]), np.array(cam[1]), cam[2])
        f = (look - pos) / np.linalg.norm(look - pos)
        r = np.cross(f, (0.0, 1.0, 0.0))
        r /= np.linalg.norm(r)
        d = np.array((offset, 0.5, 0.0)) - pos
        return float(d @ r / (d @ f) / (math.tan(math.radians(fov) / 2) * 16 / 9) / 2)

    at = lambda rel: -11.5 * v + v * rel  # noqa: E731
    return x(left_cam, at(19)) - x(left_cam, at(18)), x(right_cam, at(1)) - x(right_cam, at(0))


def roll(v: float) -> tuple[MotionKey, ...]:
    """The ball rolling along X at v metres a frame, centred on its mark at shot-relative frame 11.5."""
    return (MotionKey(frame=0, offset=(-11.5 * v, 0, 0)), MotionKey(frame=23, offset=(11.5 * v, 0, 0)))


def spaced() -> tuple[float, float]:
    """Two azimuths on the +Z side, 40 degrees or more apart and 20 or more off the line."""
    while True:
        a, b = rng.uniform(-70, 70), rng.uniform(-70, 70)
        if abs(a - b) >= 40:
            return a, b


def specs(seq) -> Tally:
    t = Tally(ignore=("frames",))  # these cuts are judged on their specs: no pictures by design
    sun, sky = seq.scenes["courtyard"].lights
    for i in range(200):  # clean; half with a moving ball and lights inside the tolerance
        a, b = spaced()
        if i % 2:
            t.quiet(staged(seq, orbit(a), orbit(b)))
            continue
        relit = sun.model_copy(update={"kelvin": 1e6 / (1e6 / 5600 + rng.uniform(-12, 12)),
                                       "intensity": 3.0 * 2 ** rng.uniform(-0.3, 0.3)})
        # Up to 0.35 m either side of its mark at the cut: the rays barely move.
        t.quiet(staged(seq, orbit(a), orbit(b), roll(rng.uniform(0.005, 0.03)), right_changes={"lights": (relit, sky)}))
    for m in MAGNITUDES:
        for _ in range(PER_MAGNITUDE):
            # 180: the right camera on the far side, m x 5 degrees off the line.
            c = staged(seq, orbit(rng.uniform(-60, 60)), orbit(180 - (90 - 5.0 * m) * rng.choice((-1, 1))))
            score_fix(t, "axis_180", c, t.planted("axis_180", m, c))
            # 30 degrees: the right camera 30/m degrees round, at the same distance and size.
            a = rng.uniform(-40, 40)
            c = staged(seq, orbit(a), orbit(a + rng.choice((-1, 1)) * 30.0 / m))
            score_fix(t, "jump_cut_30", c, t.planted("jump_cut_30", m, c))
            # Lights: the sun m x 15 mired off, or m x 1/3 stop.
            sign = rng.choice((-1, 1))
            change = {"kelvin": 1e6 / (1e6 / 5600 + sign * 15.0 * m)} if rng.random() < 0.5 else {
                "intensity": 3.0 * 2 ** (sign * m / 3)}
            c = staged(seq, orbit(-30), orbit(30), right_changes={"lights": (sun.model_copy(update=change), sky)})
            score_fix(t, "lighting", c, t.planted("lighting", m, c))
            # Screen direction: the ball crossing at m x the minimum speed, seen from both sides (no line).
            a = rng.uniform(-30, 30)
            left_cam, right_cam = orbit(a), orbit(180 + a + rng.uniform(-30, 30))
            v = 0.01
            for _ in range(8):  # perspective makes speed a little non-linear in v: iterate onto the target
                v *= m * MIN_SCREEN_SPEED / min(abs(s) for s in true_speeds(left_cam, right_cam, v))
            t.planted("screen_direction", m, staged(seq, left_cam, right_cam, roll(v), axis=False))
    for kind in ("time", "wardrobe", "prop", "gap", "fps"):
        for _ in range(PER_MAGNITUDE):
            t.planted("format" if kind in ("gap", "fps") else "tags", 1.1, noted(staged(seq, orbit(-30), orbit(30)), kind))
    return t


def noted(cut: Cut, kind: str) -> Cut:
    """The cut with one contradiction of the notes (tags) or of editorial format planted on the right."""
    left, right = cut.left, cut.right
    notes = right.shot.continuity
    if kind == "time":
        notes = notes.model_copy(update={"time_of_day": "dusk"})
    elif kind == "wardrobe":
        hero = left.shot.continuity.model_copy(update={"wardrobe": {"hero": "red"}})
        left = dataclasses.replace(left, shot=left.shot.model_copy(update={"continuity": hero}))
        notes = notes.model_copy(update={"wardrobe": {"hero": "blue"}})
    elif kind == "prop":
        notes = notes.model_copy(update={"props": ()})
    shot = right.shot.model_copy(update={"continuity": notes})
    if kind == "gap":
        shot = shot.model_copy(update={"frames": shot.frames.model_copy(update={"first": 1021 + rng.randint(1, 5)})})
    return Cut(left, dataclasses.replace(right, shot=shot, fps=right.fps + (kind == "fps")))


# -- D: the example sequence ------------------------------------------------------


def example(seq) -> None:
    print("\n== D. examples/continuity_errors.yaml at 320x180, fixes applied in timeline order")
    engine, cache = PathTracer(), {}

    def side(shot, frame):
        s = CutSide.of(seq, shot.name, frame, None).with_shot(shot)
        key = (s.setup.digest, frame)
        if key not in cache:
            engine.load(s.setup)
            cache[key] = engine.render(frame).numpy()
        return dataclasses.replace(s, pixels=cache[key])

    shots = {s.name: s for s in seq.shots}
    order = [s.name for s in seq.timeline]
    for a, b in zip(order, order[1:]):
        for attempt in range(3):
            found = [f for f in check_cut(Cut(side(shots[a], shots[a].frames.last), side(shots[b], shots[b].frames.first)))
                     if f.severity != Severity.INFO]
            fixes = [f"{f.fix.kind} {f.fix.shot}" for f in found if isinstance(f.fix, Grade | Requeue)]
            print(f"  {a}>{b} check {attempt + 1}: " + (", ".join(f"{f.rule} ({f.severity.value})" for f in found) or "clean")
                  + (f"  -> {', '.join(fixes)}" if fixes else ""))
            if not found:
                break
            for f in found:
                if isinstance(f.fix, Requeue):
                    shots[b] = apply_patch(shots[b], f.fix.patch)
                elif isinstance(f.fix, Grade):
                    shots[b] = shots[b].model_copy(update={"grade": f.fix.cdl})


def main(sections: str) -> None:
    seq = load_sequence(EXAMPLE)
    started = time.perf_counter()
    if "A" in sections:
        plates(seq, texture()).report("A. plates: synthetic crops, errors planted in the pixels (frame comparison)")
    if "B" in sections:
        rendered(seq, renders(seq)).report("B. renders: courtyard framings under one rig, errors planted as shot grades")
    if "C" in sections:
        specs(seq).report("C. specs: staging, lights, tags and format")
    if "D" in sections:
        example(seq)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main("".join(sys.argv[1:]).upper() or "ABCD")
