"""`stackyard versions ENV`: the pinned versions, and the compatibility rules each was checked against."""

from __future__ import annotations

from stacks.commands.common import add_environment_argument, load_spec


def configure(parser) -> None:
    add_environment_argument(parser)


def run(args) -> int:
    from environments import compatibility

    spec, _path = load_spec(args.environment)  # a spec whose pins break a rule stops here (exit 2)
    checked, _rules = compatibility.table()
    verdicts = compatibility.verdicts(spec.versions)
    print(f"{spec.source}: versions of {spec.name}, checked against upstream on {checked} "
          f"({compatibility.TABLE.name})")
    pins = spec.versions.items()
    width = max(len(key) for key, _version in pins)
    for key, version in pins:
        print(f"  {key:<{width}}  {version}")
        for verdict in verdicts:
            if key in (verdict.pin, *verdict.rule.when):
                print(f"  {'':<{width}}    ok: {verdict.describe(spec.versions)}")
    sdks = sorted({key for rule in _rules for key in rule.when if key.startswith(compatibility.SDK_PREFIX)})
    for key in sdks:
        print(f"  {key:<{width}}  {compatibility.installed_sdk(key) or 'not installed'} (installed Python package)")
    return 0
