# Run inside a candidate interpreter as `python -I -S probe.py`; prints one JSON object.
# Keep this file free of f-strings and annotations: it must at least report the version of
# old interpreters (2.7, 3.6) so that poorenv can refuse them with a clear message.
import json
import os
import sys

PLACEHOLDER = "@POORENV_PREFIX@"


def _real(path):
    return os.path.realpath(path) if path else path


def main():
    info = {
        "implementation": getattr(sys, "implementation", None) and sys.implementation.name,
        "version": ".".join(str(p) for p in sys.version_info[:3]),
        "releaselevel": sys.version_info[3],
    }
    if sys.version_info < (3, 8):
        info["supported"] = False
        print(json.dumps(info))
        return
    import site
    import sysconfig

    scheme = (
        sysconfig.get_default_scheme()
        if hasattr(sysconfig, "get_default_scheme")
        else sysconfig._get_default_scheme()
    )
    placeholder_vars = {
        "base": PLACEHOLDER,
        "platbase": PLACEHOLDER,
        "installed_base": PLACEHOLDER,
        "installed_platbase": PLACEHOLDER,
    }
    config = sysconfig.get_config_var
    flags = " ".join(
        str(config(name) or "")
        for name in ("LDFLAGS", "PY_LDFLAGS", "CONFIG_ARGS", "LINKFORSHARED", "BLDLIBRARY")
    )
    executable = _real(sys.executable)
    stat = os.stat(executable)
    info.update(
        {
            "supported": True,
            "executable": executable,
            "executable_size": stat.st_size,
            "executable_mtime_ns": stat.st_mtime_ns,
            "abiflags": getattr(sys, "abiflags", ""),
            "cache_tag": sys.implementation.cache_tag,
            "soabi": config("SOABI") or "",
            "ext_suffix": config("EXT_SUFFIX") or "",
            "platform": sysconfig.get_platform(),
            "free_threaded": bool(config("Py_GIL_DISABLED")),
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "base_exec_prefix": sys.base_exec_prefix,
            "in_venv": sys.prefix != sys.base_prefix,
            "scheme": scheme,
            "paths": {key: _real(value) for key, value in sysconfig.get_paths().items()},
            "prefix_paths": sysconfig.get_paths(scheme=scheme, vars=placeholder_vars),
            "site_packages": site.getsitepackages([PLACEHOLDER]),
            "shared": bool(config("Py_ENABLE_SHARED")),
            "ldlibrary": config("LDLIBRARY") or "",
            "libdir": _real(config("LIBDIR") or ""),
            "origin_rpath": "$ORIGIN" in flags or "${ORIGIN}" in flags,
        }
    )
    print(json.dumps(info, sort_keys=True))


main()
