"""Built-in render engines; importing the package registers them with `base`."""

from pipelines.render.engines import base
from pipelines.render.engines.pathtracer import PathTracer

base.register("pathtracer", PathTracer)
