"""Entry point of server processes: `hygie.rest.asgi:app` (RSGI for granian, ASGI for
uvicorn), configured from HYGIE_* environment variables."""

import gc

from hygie.config import Config
from hygie.fhir import definitions
from hygie.rest.app import Settings, create_app

_config = Config.from_env()
app = create_app(
    _config.db,
    Settings(max_body=_config.max_body, public_base=_config.public_base, open=_config.open),
)

# The vendored definitions are millions of long-lived objects: left to the collector, every
# full collection walks them all and stalls requests for hundreds of milliseconds (it was the
# p99 of creates). Load them now, move everything alive to the permanent generation, and
# collect the young generation less often.
definitions.structure_definitions()
definitions.search_parameters()
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 50, 100)
