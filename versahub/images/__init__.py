"""Images: resolve a ref, name the image, find it, or build it with repo2docker.

The flow for one launch is ``resolve_ref`` (``refs.py``) → ``image_name`` (``names.py``) →
``find_image`` (``lookup.py``: local engine or registry) → on a miss, one repo2docker build
per key (``builder.py``), streamed as events (``events.py``). ``bootstrap.py`` makes the
site's base image; ``buildpack.py`` is the offline repo2docker buildpack that builds FROM it.
Nothing here imports the docker SDK or starts a process at import time.
"""

from versahub.images.config import ImagesConfig
from versahub.images.names import ImageRef, cache_key, image_name

__all__ = ["ImageRef", "ImagesConfig", "cache_key", "image_name"]
