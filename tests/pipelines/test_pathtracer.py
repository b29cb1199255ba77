"""The built-in path tracer: what a render node can rely on from it."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from pipelines.color.temperature import kelvin_to_acescg
from pipelines.render import steps
from pipelines.render.engines import pathtracer, registry
from pipelines.render.engines.base import EngineContext
from pipelines.render.engines.pathtracer import PathTracer, frame_seed
from pipelines.spec import scene as s
from pipelines.spec.setup import ShotSetup

CUT = 1001  # timeline frame that is shot-relative frame 0
BLACK = s.Diffuse(albedo=(0.0, 0.0, 0.0))
WHITE = s.Diffuse(albedo=(1.0, 1.0, 1.0))


def key(position: tuple, look_at: tuple, fov: float = 40, frame: float = 0) -> s.CameraKey:
    return s.CameraKey(frame=frame, position=position, look_at=look_at, fov=fov)


FRONT = (key((0.0, 1.0, 6.0), (0.0, 1.0, 0.0)),)
LOOK_DOWN = (key((0.0, 4.0, 0.01), (0.0, 0.0, 0.0), fov=30),)  # sees about 3.8 x 2.1 of ground


def setup_of(
    objects: list,
    materials: dict,
    lights: tuple = (),
    keys: tuple[s.CameraKey, ...] = FRONT,
    resolution: tuple[int, int] = (48, 27),
    samples: int = 4,
    bounces: int = 2,
    seed: int = 0,
    shot: str = "sh010",
) -> ShotSetup:
    return ShotSetup(
        shot=shot,
        scene=s.Scene(materials=materials, objects=tuple(objects), lights=lights),
        camera=s.Camera(keys=keys),
        lights=lights,
        resolution=resolution,
        samples=samples,
        bounces=bounces,
        seed=seed,
        cut_first=CUT,
    )


def render(setup: ShotSetup, frame: int = CUT) -> torch.Tensor:
    engine = PathTracer("cpu")
    engine.load(setup)
    return engine.render(frame)


def lit_scene(**kw) -> ShotSetup:
    """A grey ground, a box and a glossy ball under a sun and a sky: something with noise."""
    lights = (
        s.Sun(direction=(0.3, 1.0, 0.4), kelvin=4000, intensity=3.0, angle=3.0),
        s.Sky(zenith=(0.2, 0.3, 0.6), horizon=(0.6, 0.6, 0.6), intensity=0.5),
    )
    objects = [
        s.Plane(name="ground", material="grey"),
        s.Box(name="box", material="grey", min=(-2.0, 0.0, -1.0), max=(-1.0, 1.0, 0.0)),
        s.Sphere(name="ball", material="shiny", center=(1.0, 0.8, 0.0), radius=0.8),
    ]
    materials = {"grey": s.Diffuse(), "shiny": s.Glossy(roughness=0.3, specular=0.5)}
    return setup_of(objects, materials, lights, **kw)


def bright_sphere(motion: tuple[s.MotionKey, ...] = (), **kw) -> ShotSetup:
    """An emitting sphere against black: its image is the only non-zero signal."""
    orb = s.Sphere(name="orb", material="glow", center=(0.0, 1.0, 0.0), radius=0.5, motion=motion)
    return setup_of([orb], {"glow": s.Emissive(intensity=1.0)}, **kw)


def centroid_x(image: torch.Tensor) -> float:
    """Horizontal image centroid of the brightness, in pixels from the left."""
    weight = image.sum(2)
    columns = torch.arange(image.shape[1], dtype=torch.float32)
    return float((weight.sum(0) * columns).sum() / weight.sum())


# -- the engine contract --------------------------------------------------------


def test_is_installed_as_the_pathtracer_engine() -> None:
    engine = registry.build("pathtracer", EngineContext(device="cpu"))
    assert engine.name == "pathtracer"


def test_renders_height_by_width_rgb_float32_on_cpu() -> None:
    image = render(lit_scene(resolution=(40, 24)))
    assert image.shape == (24, 40, 3)
    assert image.dtype == torch.float32 and image.device.type == "cpu"
    assert torch.isfinite(image).all() and (image >= 0).all()


def test_without_lights_the_background_is_black() -> None:
    image = render(setup_of([s.Plane(name="ground", material="grey")], {"grey": s.Diffuse()}))
    assert image.abs().max() == 0


def test_rendering_before_loading_a_shot_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="load"):
        PathTracer().render(CUT)


# -- determinism ----------------------------------------------------------------


def test_same_seed_shot_and_frame_render_bit_identical_in_separate_engines() -> None:
    assert torch.equal(render(lit_scene()), render(lit_scene()))


def test_another_frame_seed_or_shot_draws_different_noise() -> None:
    base = render(lit_scene())
    assert not torch.equal(base, render(lit_scene(), frame=CUT + 1))
    assert not torch.equal(base, render(lit_scene(seed=1)))
    assert not torch.equal(base, render(lit_scene(shot="sh020")))


def test_global_rng_state_is_neither_used_nor_changed() -> None:
    torch.manual_seed(1)
    first = render(lit_scene())
    torch.manual_seed(2)
    state = torch.get_rng_state()
    second = render(lit_scene())
    assert torch.equal(first, second)
    assert torch.equal(state, torch.get_rng_state())


@pytest.fixture
def small_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiles of 64 samples: a 48x27 frame at 4 spp is 81 tiles."""
    monkeypatch.setattr(pathtracer, "CPU_BATCH", 64)


@pytest.mark.usefixtures("small_tiles")
def test_a_frame_is_bit_identical_whatever_the_thread_budget_traces_its_tiles() -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = render(lit_scene())
        torch.set_num_threads(3)
        three = render(lit_scene())
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, three)


@pytest.mark.usefixtures("small_tiles")
def test_tiles_draw_different_noise() -> None:
    image = render(lit_scene())
    tile_rows = image.reshape(-1, 16, 3)  # 64 samples at 4 spp is 16 pixels per tile
    assert not torch.equal(tile_rows[10], tile_rows[11])


def test_a_frames_noise_does_not_depend_on_how_it_is_cut_into_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = render(lit_scene())
    monkeypatch.setattr(pathtracer, "CPU_BATCH", 64)
    # Each sample draws the same numbers; only a vectorised loop's tail may round differently.
    assert torch.allclose(render(lit_scene()), whole, rtol=0, atol=1e-5)
    assert (render(lit_scene(seed=1)) - whole).abs().max() > 0.1


def test_rendering_leaves_torchs_thread_count_as_it_found_it() -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        render(lit_scene())
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_frame_seed_is_a_stable_hash_not_pythons_salted_hash() -> None:
    # Pinned: changing the derivation silently changes every cached frame.
    assert frame_seed(0, "sh010", 1001) == 0x3F63C245BE227C11
    assert frame_seed(0, "sh010", 1001) != frame_seed(0, "sh010", 1002)
    assert 0 <= frame_seed(2**40, "x" * 64, 10**6) < 2**63


# -- energy ---------------------------------------------------------------------

SKY_RADIANCE = 0.75


def furnace(material: s.Diffuse | s.Glossy) -> torch.Tensor:
    """A unit sphere alone in a uniform sky, filling the middle of a 32x32 frame."""
    sky = s.Sky(zenith=(SKY_RADIANCE,) * 3, horizon=(SKY_RADIANCE,) * 3, intensity=1.0)
    ball = s.Sphere(name="ball", material="m", center=(0.0, 0.0, 0.0), radius=1.0)
    keys = (key((0.0, 0.0, 4.0), (0.0, 0.0, 0.0)),)
    setup = setup_of([ball], {"m": material}, (sky,), keys=keys, resolution=(32, 32), samples=64, bounces=3)
    return render(setup)


@pytest.mark.parametrize("albedo", [0.5, 0.8])
def test_white_furnace_diffuse_sphere_converges_to_albedo_times_sky(albedo: float) -> None:
    image = furnace(s.Diffuse(albedo=(albedo,) * 3))
    # The sphere spans about 23 px; the middle 10x10 is well inside its silhouette.
    inside = image[11:21, 11:21]
    assert inside.mean().item() == pytest.approx(albedo * SKY_RADIANCE, rel=0.02)
    assert (inside - albedo * SKY_RADIANCE).abs().max() < 0.05 * SKY_RADIANCE


def test_white_furnace_white_sphere_is_indistinguishable_from_the_sky() -> None:
    image = furnace(WHITE)
    assert torch.allclose(image, torch.full_like(image, SKY_RADIANCE), rtol=1e-3)


@pytest.mark.parametrize("roughness", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("specular", [0.04, 1.0])
def test_glossy_never_reflects_more_than_it_receives(roughness: float, specular: float) -> None:
    image = furnace(s.Glossy(albedo=(1.0, 1.0, 1.0), roughness=roughness, specular=specular))
    inside = image[11:21, 11:21]
    assert inside.mean() <= SKY_RADIANCE * 1.01
    # ...and does not lose much of it either: only lobe tails below the horizon.
    assert inside.mean() >= SKY_RADIANCE * 0.8


def test_emissive_sphere_renders_hdr_values_above_one_unclamped() -> None:
    orb = s.Sphere(name="orb", material="glow", center=(0.0, 1.0, 0.0), radius=1.0)
    image = render(setup_of([orb], {"glow": s.Emissive(intensity=8.0)}))
    assert image.max().item() == pytest.approx(8.0, rel=1e-5)
    assert (image > 1.0).sum() > 20


def test_emissive_sphere_lights_the_ground_by_the_analytic_irradiance() -> None:
    # A sphere of radiance L and radius r, centred h above a point, gives it
    # irradiance E = pi L (r/h)^2; white Lambert ground then has radiance E/pi.
    # Both NEE and BSDF hits reach the sphere, so this checks their MIS is unbiased.
    radiance, r, h = 16.0, 0.5, 2.0
    objects = [
        s.Plane(name="ground", material="white"),
        s.Sphere(name="orb", material="glow", center=(0.0, h, 0.0), radius=r),
    ]
    setup = setup_of(
        objects,
        {"white": WHITE, "glow": s.Emissive(intensity=radiance)},
        keys=(key((1.0, 3.0, 0.0), (0.0, 0.0, 0.0), fov=2),),  # a spot under the sphere
        resolution=(8, 8),
        samples=256,
    )
    assert render(setup).mean().item() == pytest.approx(radiance * (r / h) ** 2, rel=0.01)


# -- lights -----------------------------------------------------------------------


def lit_plane(*lights: s.Sun | s.Sky | s.Area, **kw) -> torch.Tensor:
    """A white diffuse ground filling a downward-looking frame."""
    setup = setup_of([s.Plane(name="ground", material="m")], {"m": WHITE}, lights, LOOK_DOWN, **kw)
    return render(setup)


def test_sun_intensity_is_irradiance_on_a_surface_facing_it() -> None:
    image = lit_plane(s.Sun(direction=(0.0, 1.0, 0.0), kelvin=6500, intensity=math.pi, angle=0.5))
    # White Lambert under irradiance E reflects radiance E / pi: here, the sun's colour.
    expected = torch.tensor(kelvin_to_acescg(6500))
    assert torch.allclose(image.mean((0, 1)), expected, rtol=0.01)


def test_sun_at_an_angle_lights_by_the_cosine() -> None:
    overhead = lit_plane(s.Sun(direction=(0.0, 1.0, 0.0), intensity=2.0, angle=0))
    slanted = lit_plane(s.Sun(direction=(1.0, 1.0, 0.0), intensity=2.0, angle=0))
    assert slanted.mean().item() == pytest.approx(overhead.mean().item() / math.sqrt(2), rel=1e-4)


# Just outside the downward view, so the frame shows only the lit ground.
DOWNWARD = s.Area(corner=(1.5, 1.0, -0.5), u=(1.0, 0.0, 0.0), v=(0.0, 0.0, 1.0), intensity=5.0)
UPWARD = s.Area(corner=(1.5, 1.0, -0.5), u=(0.0, 0.0, 1.0), v=(1.0, 0.0, 0.0), intensity=5.0)


def test_area_light_and_sun_each_light_a_diffuse_plane() -> None:
    assert lit_plane(DOWNWARD).mean() > 0.05
    assert lit_plane(s.Sun(direction=(0.2, 1.0, 0.1), intensity=2.0)).mean() > 0.05


def test_area_light_emits_only_along_cross_u_v() -> None:
    assert lit_plane(UPWARD).max() == 0


def test_area_light_is_seen_by_the_camera_at_its_radiance_from_the_front_only() -> None:
    corner, wide, tall = (-2.0, -1.0, 0.0), (4.0, 0.0, 0.0), (0.0, 4.0, 0.0)
    facing = s.Area(corner=corner, u=wide, v=tall, kelvin=5000, intensity=3.0)  # faces +Z
    behind = s.Area(corner=corner, u=tall, v=wide, kelvin=5000, intensity=3.0)
    far_floor = [s.Plane(name="floor", material="black", point=(0.0, -5.0, 0.0))]
    seen = render(setup_of(far_floor, {"black": BLACK}, (facing,)))
    assert torch.allclose(seen[13, 24], 3.0 * torch.tensor(kelvin_to_acescg(5000)), rtol=1e-5)
    assert render(setup_of(far_floor, {"black": BLACK}, (behind,))).max() == 0


def test_low_kelvin_sun_is_redder_than_high_kelvin_sun() -> None:
    def red_over_blue(kelvin: float) -> float:
        sun = s.Sun(direction=(0.2, 1.0, 0.1), kelvin=kelvin, intensity=2.0)
        mean = lit_plane(sun).mean((0, 1))
        return float(mean[0] / mean[2])

    assert red_over_blue(2500) > 2 * red_over_blue(9000)
    assert red_over_blue(9000) < 1


def test_a_box_between_sun_and_ground_casts_a_shadow() -> None:
    sun = s.Sun(direction=(1.0, 1.0, 0.0), intensity=2.0, angle=0.5)
    slab = s.Box(name="slab", material="m", min=(-0.3, 1.0, -0.3), max=(0.3, 1.2, 0.3))
    setup = setup_of([s.Plane(name="ground", material="m"), slab], {"m": s.Diffuse()}, (sun,), LOOK_DOWN)
    image = render(setup).sum(2)
    # The sun is up and to +X at 45 degrees: the slab's shadow falls 1 unit to -X,
    # the left of this downward view; the same spot on the right is open ground.
    shadow, open_ground = image[11:16, 10:14], image[11:16, 34:38]
    assert open_ground.min() > 0.3
    assert shadow.max() < 0.02 * open_ground.mean()


def test_sky_is_zenith_straight_up_and_horizon_at_the_horizon() -> None:
    sky = s.Sky(zenith=(0.0, 0.0, 2.0), horizon=(1.0, 0.0, 0.0), intensity=1.5)
    nothing = [s.Sphere(name="far", material="black", center=(0.0, -1000.0, 0.0), radius=1.0)]

    def looking(at: tuple[float, float, float]) -> torch.Tensor:
        keys = (key((0.0, 0.0, 0.0), at, fov=2),)
        return render(setup_of(nothing, {"black": BLACK}, (sky,), keys, resolution=(8, 8)))

    up, level = looking((0.0, 10.0, 0.001)), looking((0.0, 0.0, -10.0))
    assert torch.allclose(up.mean((0, 1)), torch.tensor([0.0, 0.0, 3.0]), atol=0.01)
    assert torch.allclose(level.mean((0, 1)), torch.tensor([1.5, 0.0, 0.0]), atol=0.05)


def test_emissive_box_lights_the_ground_through_bounce_rays() -> None:
    lamp = s.Box(name="lamp", material="glow", min=(1.2, 0.5, -0.5), max=(1.6, 0.9, 0.5))
    materials = {"grey": s.Diffuse(), "glow": s.Emissive(intensity=10.0)}
    setup = setup_of([s.Plane(name="ground", material="grey"), lamp], materials, keys=LOOK_DOWN, samples=16)
    image = render(setup).sum(2)
    # The lamp is just off the right edge of the view: the right of the ground is brighter.
    assert image[:, 36:].mean() > 2 * image[:, :12].mean() > 0


def test_a_smooth_mirror_shows_an_emitter_in_its_reflection() -> None:
    objects = [
        s.Plane(name="mirror", material="mirror"),
        s.Sphere(name="orb", material="glow", center=(0.0, 1.0, -2.0), radius=0.5),
    ]
    materials = {
        "mirror": s.Glossy(albedo=(0.0, 0.0, 0.0), roughness=0.0, specular=1.0),
        "glow": s.Emissive(intensity=2.0),
    }
    keys = (key((0.0, 1.0, 4.0), (0.0, 0.0, -2.0)),)
    image = render(setup_of(objects, materials, keys=keys)).sum(2)
    # The orb is above the horizon line and its full-strength mirror image below it.
    assert image[:13].max() > 5.9 and image[16:].max() > 5.9


# -- animation --------------------------------------------------------------------


def test_camera_truck_right_moves_the_image_left_and_holds_outside_the_keys() -> None:
    keys = (
        key((-1.0, 1.0, 6.0), (-1.0, 1.0, 0.0), frame=0),
        key((1.0, 1.0, 6.0), (1.0, 1.0, 0.0), frame=10),
    )
    setup = bright_sphere(keys=keys, resolution=(64, 36))
    x = {f: centroid_x(render(setup, CUT + f)) for f in (-5, 0, 5, 10, 15)}
    assert x[0] - x[5] > 3 and x[5] - x[10] > 3
    assert x[-5] == pytest.approx(x[0], abs=0.5)
    assert x[15] == pytest.approx(x[10], abs=0.5)


def test_object_motion_keys_move_the_object() -> None:
    motion = (s.MotionKey(frame=0, offset=(0.0, 0.0, 0.0)), s.MotionKey(frame=8, offset=(1.5, 0.0, 0.0)))
    setup = bright_sphere(motion=motion, resolution=(64, 36))
    start, middle, end = (centroid_x(render(setup, CUT + f)) for f in (0, 4, 8))
    assert middle - start > 3 and end - middle > 3
    assert centroid_x(render(setup, CUT + 20)) == pytest.approx(end, abs=0.5)


def test_moving_emitter_moves_its_light_too() -> None:
    motion = (s.MotionKey(frame=0, offset=(-1.5, 0.0, 0.0)), s.MotionKey(frame=1, offset=(1.5, 0.0, 0.0)))
    orb = s.Sphere(name="orb", material="glow", center=(0.0, 0.6, 0.0), radius=0.2, motion=motion)
    materials = {"glow": s.Emissive(intensity=20.0), "m": s.Diffuse(albedo=(0.8, 0.8, 0.8))}
    setup = setup_of([s.Plane(name="ground", material="m"), orb], materials, keys=LOOK_DOWN, samples=8)
    left, right = render(setup, CUT), render(setup, CUT + 1)
    assert left[:, :24].mean() > 2 * left[:, 24:].mean()
    assert right[:, 24:].mean() > 2 * right[:, :24].mean()


# -- compiled bounce steps ---------------------------------------------------------


@pytest.fixture
def compiled_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame runs the compiled steps, however small (one compile per test process)."""
    missing = steps.missing_toolchain()
    if missing is not None:
        pytest.skip(f"the compiled steps need a C++ toolchain: {missing}")
    monkeypatch.setattr(pathtracer, "COMPILE_MIN_SAMPLES", 0)
    monkeypatch.setenv(pathtracer.COMPILE_ENV, "1")


def test_bounces_run_op_by_op_unless_compiling_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pathtracer.COMPILE_ENV, raising=False)
    assert not PathTracer("cpu").compile and PathTracer("cpu", compile=True).compile
    monkeypatch.setenv(pathtracer.COMPILE_ENV, "1")
    assert PathTracer("cpu").compile and not PathTracer("cpu", compile=False).compile


@pytest.mark.usefixtures("compiled_steps")
def test_compiled_steps_render_what_op_by_op_steps_render_and_the_same_every_run() -> None:
    compiled = render(lit_scene())
    assert steps.compiled().compiled
    eager = PathTracer("cpu", compile=False)
    eager.load(lit_scene())
    # Same random numbers, same paths: only float rounding differs (fused multiply-adds).
    assert torch.allclose(compiled, eager.render(CUT), rtol=1e-3, atol=1e-3)
    assert not torch.equal(compiled, render(lit_scene(seed=1)))
    assert torch.equal(compiled, render(lit_scene()))


@pytest.mark.usefixtures("compiled_steps")
def test_compiled_kernels_let_go_of_the_gil_so_tiles_trace_in_parallel() -> None:
    from torch._inductor.codecache import CppPythonBindingsCodeCache

    steps.compiled()
    assert CppPythonBindingsCodeCache.call_entry_function == steps.UNLOCKED_CALL


def test_frames_below_the_compile_size_run_op_by_op(monkeypatch: pytest.MonkeyPatch) -> None:
    used = []

    def trace(self, world, lens, seed, first, last, kernels):
        used.append(kernels)
        return torch.zeros(3, (last - first) * self._setup.samples)

    monkeypatch.setattr(pathtracer.PathTracer, "_trace", trace)
    render(lit_scene(resolution=(16, 9)))
    assert used and all(kernels is steps.EAGER for kernels in used)


def test_without_a_compiler_the_steps_run_op_by_op_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shotfarm.render.pathtracer"):
        assert steps.build("no C++ compiler (g++ not found)") is steps.EAGER
    assert "no C++ compiler" in caplog.text and "op by op" in caplog.text
