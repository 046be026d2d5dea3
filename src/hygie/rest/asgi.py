"""ASGI entry point for server processes: `hygie.rest.asgi:app`, configured from HYGIE_*."""

from hygie.config import Config
from hygie.rest.app import Settings, create_app

_config = Config.from_env()
app = create_app(_config.db, Settings(max_body=_config.max_body, public_base=_config.public_base))
