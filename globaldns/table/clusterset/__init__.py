"""The Multi-Cluster Services zone (`clusterset.local`, SPEC §7), compiled from the same index
as `global.`: what the sources export (`exports.py`, of `table.model.Export`s), what each
exported service's names answer (`names.py`), their wire answers (`nodes.py`) and the zone's
pipeline (`pipeline.py`)."""
