"""Ray-shape intersection and direction sampling for the torch path tracer.

Vectors are (3, N) tensors: one row per axis, so each component is a contiguous
row and a dot product is three multiply-adds instead of a reduction. Shapes
hold plain floats for one frame (motion already applied) and answer for a whole
batch of rays at once; a miss is +inf so the closest hit is a running minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

Vec3 = tuple[float, float, float]

# Hits closer than this are the surface the ray left from (origins are also
# nudged off surfaces, see OFFSET in the tracer).
T_MIN = 1e-4
INF = float("inf")


def dot(a: Tensor, b: Tensor) -> Tensor:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def dot_const(a: Tensor, v: Vec3) -> Tensor:
    # Axis-aligned planes and lights are the common case: skip the zero terms.
    terms = [a[i] * v[i] for i in range(3) if v[i] != 0]
    if not terms:
        return torch.zeros_like(a[0])
    return terms[0] if len(terms) == 1 else sum(terms[1:], terms[0])


def normalize(a: Tensor) -> Tensor:
    return a * torch.rsqrt(dot(a, a)).clamp_max(1e30)


def sub(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def vdot(a: Vec3, b: Vec3) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def unit(a: Vec3) -> Vec3:
    n = math.sqrt(vdot(a, a))
    if n == 0:
        raise ValueError("cannot normalise the zero vector")
    return (a[0] / n, a[1] / n, a[2] / n)


def constant(v: Vec3, like: Tensor) -> Tensor:
    """v at every position of a (3, N) batch like `like`.

    Built from fills rather than torch.tensor so a compiled tracer takes the
    numbers as arguments and does not recompile when an object moves.
    """
    return torch.stack([torch.full_like(like[0], v[i]) for i in range(3)])


def minus(a: Tensor, v: Vec3) -> Tensor:
    """a - v for a (3, N) batch and one point."""
    return torch.stack([a[0] - v[0], a[1] - v[1], a[2] - v[2]])


class _Surface:
    def blocks(self, rays: Rays, reach: Tensor) -> Tensor:
        """Whether each ray meets the shape before `reach` (a shadow ray's length)."""
        return self.hit(rays) < reach  # type: ignore[attr-defined]


class Rays:
    """A batch of rays o + t d, with per-ray terms that several shapes share."""

    def __init__(self, o: Tensor, d: Tensor) -> None:
        self.o, self.d = o, d
        self._slab: tuple[Tensor, Tensor] | None = None

    @property
    def slab(self) -> tuple[Tensor, Tensor]:
        """1/d and -o/d, so a slab distance (plane - o)/d is one fused op per box face."""
        if self._slab is None:
            inv = 1.0 / self.d
            self._slab = (inv, -self.o * inv)
        return self._slab


@dataclass(frozen=True)
class Sphere(_Surface):
    center: Vec3
    radius: float

    def hit(self, rays: Rays) -> Tensor:
        # Every ray meets every sphere in the loops, so this is the tracer's
        # hottest code: fused multiply-adds and in-place ops on a few buffers,
        # since each (N,) temporary costs a pass through memory.
        o, d = rays.o, rays.d
        cx, cy, cz = self.center
        ox, oy, oz = o[0] - cx, o[1] - cy, o[2] - cz
        b = (ox * d[0]).addcmul_(oy, d[1]).addcmul_(oz, d[2])
        c = ox.mul_(ox).addcmul_(oy, oy).addcmul_(oz, oz).sub_(self.radius * self.radius)
        disc = (b * b).sub_(c)
        root = disc.clamp_min(0).sqrt_()
        near = root.neg().sub_(b)
        t = torch.where(near > T_MIN, near, root.sub_(b))
        return torch.where((disc >= 0) & (t > T_MIN), t, INF)  # a NaN is a miss too

    def normal(self, p: Tensor) -> Tensor:
        return minus(p, self.center) / self.radius

    def _cone(self, p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        to_center = -minus(p, self.center)
        dist_sq = dot(to_center, to_center)
        omc = cone_one_minus_cos((self.radius**2 / dist_sq).clamp_max(1.0))
        return to_center, dist_sq, omc

    def sample_toward(self, p: Tensor, u1: Tensor, u2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Directions from p uniform in the cone the sphere subtends: (wi, distance, pdf).

        The pdf is inf (an impossible sample) for points inside the sphere.
        """
        to_center, dist_sq, omc = self._cone(p)
        wi = around(normalize(to_center), u1 * omc, u2)
        b = -dot(to_center, wi)
        dist = -b - (b * b - dist_sq + self.radius**2).clamp_min(0).sqrt()
        outside = dist_sq > self.radius**2
        return wi, dist, torch.where(outside, 1 / (2 * math.pi * omc), INF)

    def pdf_toward(self, o: Tensor, d: Tensor, t: Tensor) -> Tensor:
        """Solid-angle pdf of `sample_toward` from o for a ray that hits the sphere."""
        _, dist_sq, omc = self._cone(o)
        return torch.where(dist_sq > self.radius**2, 1 / (2 * math.pi * omc), 0.0)


@dataclass(frozen=True)
class Plane(_Surface):
    point: Vec3
    unit_normal: Vec3

    def hit(self, rays: Rays) -> Tensor:
        n = self.unit_normal
        # A ray parallel to the plane divides by zero: inf or nan, both misses.
        t = (vdot(n, self.point) - dot_const(rays.o, n)) / dot_const(rays.d, n)
        return torch.where(t > T_MIN, t, INF)

    def normal(self, p: Tensor) -> Tensor:
        return constant(self.unit_normal, p)


@dataclass(frozen=True)
class Box:
    lo: Vec3
    hi: Vec3

    def _span(self, rays: Rays) -> tuple[Tensor, Tensor]:
        """Entry and exit distances of the lines through the rays (entry > exit: a miss)."""
        inv, neg_o_inv = rays.slab
        near = far = None
        for axis in range(3):
            a = torch.add(neg_o_inv[axis], inv[axis], alpha=self.lo[axis])
            b = torch.add(neg_o_inv[axis], inv[axis], alpha=self.hi[axis])
            lo, hi = torch.minimum(a, b), torch.maximum(a, b)
            near = lo if near is None else torch.maximum(near, lo)
            far = hi if far is None else torch.minimum(far, hi)
        assert near is not None and far is not None
        return near, far

    def hit(self, rays: Rays) -> Tensor:
        near, far = self._span(rays)
        # From inside the box the exit is the hit.
        t = torch.where(near > T_MIN, near, far)
        return torch.where((near <= far) & (t > T_MIN), t, INF)

    def blocks(self, rays: Rays, reach: Tensor) -> Tensor:
        near, far = self._span(rays)
        return near.clamp_min(T_MIN) <= torch.minimum(far, reach)

    def normal(self, p: Tensor) -> Tensor:
        # The face is the axis where the point is furthest out, relative to
        # the half size; a tie goes to the first axis.
        x, y, z = ((p[i] - (lo + hi) / 2) / ((hi - lo) / 2) for i, (lo, hi) in enumerate(zip(self.lo, self.hi)))
        on_x = (x.abs() >= y.abs()) & (x.abs() >= z.abs())
        on_y = ~on_x & (y.abs() >= z.abs())
        on_z = ~on_x & ~on_y
        return torch.stack([torch.sign(x) * on_x, torch.sign(y) * on_y, torch.sign(z) * on_z])


@dataclass(frozen=True)
class Rect(_Surface):
    """A parallelogram corner + a*u + b*v, a and b in [0, 1]; faces cross(u, v)."""

    corner: Vec3
    u: Vec3
    v: Vec3

    @property
    def unit_normal(self) -> Vec3:
        return unit(cross(self.u, self.v))

    @property
    def area(self) -> float:
        c = cross(self.u, self.v)
        return math.sqrt(vdot(c, c))

    def _duals(self) -> tuple[Vec3, Vec3]:
        # Dual vectors give the (a, b) coordinates of a point even when u and v
        # are not perpendicular.
        n = self.unit_normal
        du, dv = cross(self.v, n), cross(n, self.u)
        su, sv = vdot(self.u, du), vdot(self.v, dv)
        return (du[0] / su, du[1] / su, du[2] / su), (dv[0] / sv, dv[1] / sv, dv[2] / sv)

    def hit(self, rays: Rays) -> Tensor:
        o, d = rays.o, rays.d
        n = self.unit_normal
        t = (vdot(n, self.corner) - dot_const(o, n)) / dot_const(d, n)
        du, dv = self._duals()
        rel = (o[0] - self.corner[0], o[1] - self.corner[1], o[2] - self.corner[2])
        a = rel[0] * du[0] + rel[1] * du[1] + rel[2] * du[2] + t * dot_const(d, du)
        b = rel[0] * dv[0] + rel[1] * dv[1] + rel[2] * dv[2] + t * dot_const(d, dv)
        inside = (a >= 0) & (a <= 1) & (b >= 0) & (b <= 1) & (t > T_MIN)
        return torch.where(inside, t, INF)

    def normal(self, p: Tensor) -> Tensor:
        return constant(self.unit_normal, p)

    def sample_toward(self, p: Tensor, u1: Tensor, u2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Directions from p to uniform points of the rectangle: (wi, distance, pdf).

        The pdf is in solid angle, and inf (an impossible sample) where p is
        behind the emitting side.
        """
        c, u, v = self.corner, self.u, self.v
        to = torch.stack([c[i] + u[i] * u1 + v[i] * u2 - p[i] for i in range(3)])
        dist = dot(to, to).sqrt()
        wi = to / dist
        cos_light = -dot_const(wi, self.unit_normal)
        pdf = dist * dist / (self.area * cos_light)
        return wi, dist, torch.where(cos_light > 0, pdf, INF)

    def pdf_toward(self, o: Tensor, d: Tensor, t: Tensor) -> Tensor:
        """Solid-angle pdf of `sample_toward` for a ray o + t d that hits the front."""
        return t * t / (self.area * (-dot_const(d, self.unit_normal)).clamp_min(1e-12))


Shape = Sphere | Plane | Box | Rect


def at(x: Tensor, index: Tensor) -> Tensor:
    """x at the given positions of its last axis.

    For a (K, N) batch, gather is several times faster than index_select or
    advanced indexing on a CPU (which walk the rows with a stride).
    """
    if x.dim() == 1:
        return x.index_select(0, index)
    return x.gather(-1, index.expand(*x.shape[:-1], index.shape[0]))


@dataclass(frozen=True)
class Shapes:
    """Everything a ray can hit in one frame, queried a whole batch at a time."""

    items: tuple[Shape, ...]

    def closest(self, o: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        """Distance to the nearest hit (inf: none) and the index of the shape hit (-1: none)."""
        rays = Rays(o, d)
        best = torch.full_like(d[0], INF)
        which = torch.full(best.shape, -1, dtype=torch.long, device=d.device)
        for i, shape in enumerate(self.items):
            t = shape.hit(rays)
            which = torch.where(t < best, i, which)
            best = torch.minimum(best, t)
        return best, which

    def occluded(self, o: Tensor, d: Tensor, dist: Tensor, target: int = -1) -> Tensor:
        """Whether shadow rays are blocked short of `dist`; `target` is the light's own shape."""
        rays = Rays(o, d)
        reach = dist * (1 - 1e-4)  # stop a hair short of the light's surface
        blocked = torch.zeros_like(dist, dtype=torch.bool)
        for i, shape in enumerate(self.items):
            # A convex emitter cannot shadow a sample drawn on its near side.
            if i != target:
                blocked |= shape.blocks(rays, reach)
        return blocked

    def normals(self, which: Tensor, p: Tensor) -> Tensor:
        """Outward normals at points p on the shapes `which` (each point on one of them).

        Every shape's normal is computed at every point and the right one
        kept: no data-dependent shapes, so a compiled tracer fuses it all.
        """
        n = self.items[-1].normal(p)
        for i in range(len(self.items) - 2, -1, -1):
            n = torch.where(which == i, self.items[i].normal(p), n)
        return n


# -- sampling ----------------------------------------------------------------


def around(axis: Tensor, one_minus_cos: Tensor, u: Tensor) -> Tensor:
    """Directions at polar angle acos(1 - one_minus_cos) from `axis`, azimuth 2*pi*u.

    Taking 1 - cos(theta) rather than cos keeps narrow cones (a small sun, a
    near-mirror lobe) precise in float32.
    """
    sin = (one_minus_cos * (2 - one_minus_cos)).clamp_min(0).sqrt()
    phi = (2 * math.pi) * u
    x, y, z = sin * torch.cos(phi), sin * torch.sin(phi), 1 - one_minus_cos
    # Branchless orthonormal basis (Duff et al. 2017).
    ax, ay, az = axis[0], axis[1], axis[2]
    sign = torch.where(az >= 0, 1.0, -1.0)
    k = -1 / (sign + az)
    m = ax * ay * k
    tx, ty, tz = 1 + sign * ax * ax * k, sign * m, -sign * ax
    bx, by, bz = m, sign + ay * ay * k, -ay
    return torch.stack((x * tx + y * bx + z * ax, x * ty + y * by + z * ay, x * tz + y * bz + z * az))


def cosine_one_minus_cos(u: Tensor) -> Tensor:
    """Polar angles for cosine-weighted directions (pdf cos/pi) about an axis."""
    return 1 - (1 - u).sqrt()


def phong_one_minus_cos(exponent: Tensor, u: Tensor) -> Tensor:
    """Polar angles for directions with pdf (e+1)/(2 pi) cos^e of the angle to an axis."""
    # cos = u^(1/(e+1)), written via expm1 so large exponents keep their precision.
    return -torch.expm1(torch.log(u.clamp_min(1e-30)) / (exponent + 1))


def cosine_hemisphere(n: Tensor, u1: Tensor, u2: Tensor) -> Tensor:
    """Cosine-weighted directions about unit normals n."""
    return around(n, cosine_one_minus_cos(u1), u2)


def cone_one_minus_cos(sin_sq: Tensor) -> Tensor:
    """1 - cos(theta_max) from sin^2(theta_max), without cancellation for small cones."""
    return sin_sq / (1 + (1 - sin_sq).clamp_min(0).sqrt())
