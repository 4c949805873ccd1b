"""Settings of the registry benchmark's server: the product's settings, plus a URLconf with
a bare view (benchmarks/registry_urls.py). Never used by the product."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.registry_urls"
