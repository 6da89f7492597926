"""`cairn certs issue`: the cluster CA and the services' certificates for mutual TLS (cairn.mtls).

`cairn up` runs the same on every start for certificates that are missing or expire within 30
days. Run by hand, it (re)issues the named roles' certificates in place, creating the CA first if
the directory has none; running services serve a renewed certificate from their next handshake.
The same files fill the Kubernetes Secrets the Helm chart mounts (see helm/cairn/README.md).
"""

from __future__ import annotations

import argparse
import sys

from cairn.admin.target import data_dir
from cairn.mtls import ROLES, ClusterPki, not_after


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("certs", help="certificates for the services' mutual TLS")
    sub = parser.add_subparsers(dest="certs_command", metavar="SUBCOMMAND", required=True)
    issue = sub.add_parser(
        "issue",
        help="issue (or renew) role certificates from the cluster CA, creating the CA if absent",
        description="Issue a new certificate and key for each ROLE (default: every role) from the "
        "CA in DATA_DIR/pki, creating the CA first if there is none. The admin's certificate goes "
        "next to credentials.json (admin-cert.pem, admin-key.pem), the others to pki/ROLE.pem and "
        "pki/ROLE-key.pem.",
    )
    issue.add_argument("--data-dir", help="cluster data directory (default: $CAIRN_DATA_DIR or ./cairn-data)")
    issue.add_argument(
        "--host",
        action="append",
        default=[],
        help="a host name or IP address the certificates also name (repeatable)",
    )
    issue.add_argument("roles", nargs="*", metavar="ROLE", help=f"one of {', '.join(ROLES)}")
    issue.set_defaults(func=run_issue)


def run_issue(args: argparse.Namespace) -> int:
    unknown = [r for r in args.roles if r not in ROLES]
    if unknown:
        print(f"cairn certs: unknown role {unknown[0]!r} (one of {', '.join(ROLES)})", file=sys.stderr)
        return 2
    pki = ClusterPki(data_dir(args.data_dir).resolve())
    pki.ensure_ca()
    for role in args.roles or ROLES:
        identity = pki.renew(role, args.host)
        print(
            f"{role}: {identity.cert} (key {identity.key}), valid until {not_after(identity.cert):%Y-%m-%d}"
        )
    print(f"CA: {pki.ca_cert}")
    return 0
