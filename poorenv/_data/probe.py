# Run inside a candidate interpreter as `python -I -S probe.py`; prints one JSON object.
# Keep this file free of f-strings and annotations: it must at least report the version of
# old interpreters (2.7, 3.6) so that poorenv can refuse them with a clear message.
import json
import os
import sys

PLACEHOLDER = "@POORENV_PREFIX@"


def _real(path):
    return os.path.realpath(path) if path else path


def _venv_home():
    """The `home` of the venv `sys.executable` belongs to, else None. The probe runs with -S, and
    site.py is what would point sys.prefix at a venv: read pyvenv.cfg as site.py does (beside
    the executable or one level up). poorenv's own envs carry a pyvenv.cfg without `home`."""
    directory = os.path.dirname(os.path.abspath(sys.executable))
    for candidate in (directory, os.path.dirname(directory)):
        try:
            with open(os.path.join(candidate, "pyvenv.cfg"), encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            key, sep, value = line.partition("=")
            if sep and key.strip().lower() == "home":
                return candidate
    return None


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
            "prefix": _venv_home() or sys.prefix,
            "base_prefix": sys.base_prefix,
            "base_exec_prefix": sys.base_exec_prefix,
            "in_venv": sys.prefix != sys.base_prefix or _venv_home() is not None,
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
    info["markers"] = _markers()
    print(json.dumps(info, sort_keys=True))


def _markers():
    """The PEP 508 marker environment, as packaging's default_environment() makes it."""
    import platform

    impl = sys.implementation.version
    impl_version = "%d.%d.%d" % (impl.major, impl.minor, impl.micro)
    if impl.releaselevel != "final":
        impl_version += impl.releaselevel[0] + str(impl.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": impl_version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


main()
