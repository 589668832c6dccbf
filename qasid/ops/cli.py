"""The operator's commands for installing and running qasid: `qasid bundle` and `qasid doctor`."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from qasid.config_loading import load_settings


def cmd_doctor(args: argparse.Namespace) -> int:
    from qasid.ops.doctor import FIX, WARN, examine

    config_file = Path(args.config) if args.config else None
    settings = load_settings(config_file=config_file, server_name=args.server_name, data_dir=args.data_dir)
    settings = dataclasses.replace(settings, data_dir=settings.data_dir.resolve())
    if config_file is None and os.environ.get("QASID_CONFIG", "").strip():
        config_file = Path(os.environ["QASID_CONFIG"])
    if config_file is None and Path("qasid.toml").is_file():
        config_file = Path("qasid.toml")
    findings = examine(settings, config_file.resolve() if config_file else None)
    for finding in findings:
        print(finding.line())
    to_fix = sum(f.severity == FIX for f in findings)
    warnings = sum(f.severity == WARN for f in findings)
    print(f"qasid doctor: {to_fix} to fix, {warnings} to look at" + ("" if to_fix else "; nothing must be fixed"))
    return 1 if to_fix else 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from qasid.ops.bundle import DEFAULT_PLATFORM, BundleError, build_bundle, default_source

    source = Path(args.source).resolve() if args.source else default_source()
    if source is None:
        print("error: qasid bundle builds from a clone of qasid's repository: pass --source", file=sys.stderr)
        return 2
    output = Path(args.output).resolve() if args.output else None
    try:
        bundle = build_bundle(source, output, args.platform or [DEFAULT_PLATFORM], args.python)
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{bundle.path}: {len(bundle.wheels)} wheels")
    print(f"sha256 {bundle.sha256}  (check it on the other side: sha256sum {bundle.path.name})")
    return 0


def add_ops_parsers(sub: Any) -> None:
    """`qasid doctor` and `qasid bundle`."""
    doctor = sub.add_parser(
        "doctor", help="check the configuration and data folder and say what to fix (exit 1 if something must be)",
        description="Checks the data folder (present, private, one owner; the database and signing key 0600),"
                    " public_baseurl, the TLS files that settings name, and free disk space against"
                    " disk_free_min_mb. Reads only: it changes nothing.")
    doctor.add_argument("--data-dir", help="data folder (default ./qasid-data)")
    doctor.add_argument("--server-name", help="the Matrix server name (default localhost)")
    doctor.set_defaults(func=cmd_doctor)

    bundle = sub.add_parser(
        "bundle", help="build one archive of qasid's wheel and all its dependencies', for a machine with no network",
        description="Downloads the binary wheels pinned in requirements/runtime.lock for the named platform and"
                    " Python (checked against the lock's hashes), builds qasid's wheel, and packs them with"
                    " SHA256SUMS, a requirements.lock that includes qasid's own hash, and INSTALL.txt.")
    bundle.add_argument("--platform", action="append",
                        help="a wheel platform tag (default manylinux_2_28_x86_64); repeat it for one"
                             " archive that serves several, e.g. also manylinux_2_28_aarch64")
    bundle.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                        help="the target's Python version, e.g. 3.11 (default: this one's)")
    bundle.add_argument("--output", help="the archive to write (default dist/qasid-VERSION-cpXY-PLATFORM.tar.gz)")
    bundle.add_argument("--source", help="qasid's source tree (default: the clone this qasid runs from)")
    bundle.set_defaults(func=cmd_bundle)
