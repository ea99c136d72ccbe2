"""Settings from flags, environment and a config file, with one precedence, checked at start.

`values` reads one value, `option` declares a setting and the settings fields that read it,
`layers` applies the precedence, `files` reads YAML, `common` holds the options several
commands share. Each subsystem declares its own options and frozen settings type; the whole of
`serve`'s and `table`'s settings is `globaldns.settings.Settings`.
"""

from globaldns.config.files import free_gradually, read_bytes, yaml_document
from globaldns.config.layers import Layers
from globaldns.config.option import Option, add_options, setting
from globaldns.config.values import (
    MAX_TTL,
    ConfigError,
    flag,
    host_port,
    host_port_text,
    path,
    pod_namespace,
    seconds,
    text,
)

__all__ = [
    "MAX_TTL",
    "ConfigError",
    "Layers",
    "Option",
    "add_options",
    "flag",
    "free_gradually",
    "host_port",
    "host_port_text",
    "path",
    "pod_namespace",
    "read_bytes",
    "seconds",
    "setting",
    "text",
    "yaml_document",
]
