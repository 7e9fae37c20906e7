"""The ``kyc case ...``, ``kyc trace`` and ``kyc audit verify`` commands (registered by kyc_assets/cli.py).

Thin: parse, authenticate the analyst, call the case store, print. Refusals are one line on stderr
with exit code 2 (the store has already written them to the audit log).

Analyst identity: ``--as NAME``. When ``KYC_ANALYSTS_FILE`` lists the analysts, every command that
reads personal data or writes the audit log (list, show, report, export, trace, assign, decide,
approve, reject, purge, rotate-keys) needs ``--as`` and the password, read from ``--password-stdin``
or ``KYC_ANALYST_PASSWORD`` (or asked for on a terminal); a wrong password is refused and audited,
and counts towards the account's lock-out (shared with the dashboard, cases/access.py). Roles are
enforced by the store. Without a file (local/demo mode) the name is taken as given (canonical form;
``system:``/``dagster:`` names are refused). With ``KYC_DEPLOYMENT=production`` the commands refuse
to start when the deployment is unsafe (kyc_assets/deployment_checks.py).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from kyc_assets.cases.store import DECISIONS


def _store():
    from kyc_assets.cases.store import CaseStore
    from kyc_assets.deployment_checks import UnsafeDeployment, check_deployment
    from kyc_assets.settings import Settings

    try:
        check_deployment(Settings.from_env())  # production refuses to run unsafe
    except UnsafeDeployment as exc:
        raise _cli_error(str(exc)) from exc
    return CaseStore.from_env()


def _cli_error(message: str) -> Exception:
    from kyc_assets.cli import CLIError

    return CLIError(message)


def _authenticate(store, args, name: str | None, action: str, subject: str) -> str:
    """The analyst's (canonical) name, after checking the password when an analyst list is configured.

    Without a list, ``name`` (default ``cli``) must still be a valid, non-reserved analyst name. With
    one, ``--as`` is required, a locked account is refused before its password is read, and a wrong
    password is audited and counts towards the lock-out (KYC_LOGIN_MAX_FAILURES)."""
    from kyc_assets.cases.access import AccessControl
    from kyc_assets.cases.analysts import LOGIN_FAILED, AnalystDirectory, AuthenticationError, canonical
    from kyc_assets.settings import Settings

    directory = store.analysts or AnalystDirectory(None)
    if not directory.configured:
        try:
            return directory.get(name or "cli").username
        except AuthenticationError as exc:
            raise _cli_error(str(exc)) from exc  # a malformed or reserved name: nobody to audit
    if not name:
        raise _cli_error("KYC_ANALYSTS_FILE lists the analysts: say who you are with --as NAME (and the password)")
    known = None
    try:
        known = directory.get(name).username
    except AuthenticationError:
        known = None
    access = AccessControl.from_settings(store, Settings.from_env())
    account = canonical(name)[:200] or "-"
    if access.locked_for(account) > 0:
        store.record_refusal(actor=known or "anonymous", action=action, subject=subject,
                             error="account locked after repeated failed sign-ins")
        raise _cli_error("too many failed sign-ins for this account: it is locked for a while; try again later")
    from kyc_assets.settings import analyst_password

    password = analyst_password()
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\n")
    elif password is None and sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
    try:
        analyst = directory.authenticate(name, password).username
    except AuthenticationError as exc:
        store.record_refusal(actor=known or "anonymous", action=action, subject=subject, error=LOGIN_FAILED)
        if access.failed(account):
            store.append_audit(actor=known or "anonymous", action="login_locked", subject="cli",
                               detail={"failures": access.max_failures, "minutes": int(access.lockout_seconds // 60),
                                       "known_account": bool(known)})
        raise _cli_error(LOGIN_FAILED) from exc
    access.succeeded(account)
    return analyst


def _reader(store, args, subject: str) -> str:
    """The analyst reading personal data: authenticated like a decision when analysts are listed."""
    return _authenticate(store, args, getattr(args, "analyst", None), "case_read", subject)


def _viewed(store, analyst: str, case_id: str, what: str = "case_viewed") -> None:
    """Audit that ``analyst`` read one case's personal data from the CLI (with an analyst list, as the
    dashboard does for a case page)."""
    if store.analysts is not None and store.analysts.configured:
        store.append_audit(actor=analyst, action=what, subject=case_id[:200], detail={"via": "cli"})


def _run(fn):
    """Map refusals of the store (CaseError and friends) to one-line CLI errors."""
    from kyc_assets.audit.trace import TraceError
    from kyc_assets.cases.export import ExportError
    from kyc_assets.cases.pii import PiiKeyError
    from kyc_assets.cases.sar import SarError
    from kyc_assets.cases.store import CaseError

    try:
        return fn()
    except (CaseError, ExportError, SarError, PiiKeyError, TraceError) as exc:
        raise _cli_error(str(exc)) from exc


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def _case_line(c: dict) -> str:
    return (f"{c['case_id']}  P{c['priority']}  {c['status']:<16} due {c['due_date']}"
            f"{' OVERDUE' if c.get('overdue') else ''}  {c['subject_type']} {c['subject_id']}  "
            f"{c.get('assigned_to') or '-'}  {c.get('evidence_count', 0)} evidence  {'; '.join(c['reasons'])[:80]}")


def cmd_case_list(args) -> int:
    store = _store()
    _reader(store, args, "cases")
    rows = _run(lambda: store.list_cases(status=args.status, assigned_to=args.assigned_to, limit=args.limit,
                                         sort=args.sort))
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(_case_line(row))
    total = store.count_cases(status=args.status, assigned_to=args.assigned_to)
    print(f"{len(rows)} of {total} case(s){' with status ' + args.status if args.status else ''}", file=sys.stderr)
    return 0


def cmd_case_show(args) -> int:
    store = _store()
    analyst = _reader(store, args, args.case_id)
    case = _run(lambda: store.get_case(args.case_id))
    _viewed(store, analyst, case["case_id"])
    if args.json:
        _print_json(case)
        return 0
    print(_case_line(case))
    if case.get("subject_name"):
        print(f"subject: {case['subject_name']}  born {case.get('subject_dob') or '-'}  "
              f"document {case.get('subject_document_number') or '-'}")
    print(f"opened {case['opened_at']}  updated {case['updated_at']}  version {case['version']}"
          f"{'  closed ' + case['closed_at'] + ' (' + str(case['outcome']) + '), retained until ' + str(case['retain_until']) if case.get('closed_at') else ''}")
    print("evidence:")
    for e in case["evidence"]:
        print(f"  {e['evidence_id'][:12]} {e['kind']} risk {e['risk']:.2f}: {e['reason']}")
    print("decisions:")
    for d in case["decisions"] or []:
        approval = f" -> {d['status']} by {d['approved_by']}" if d.get("approved_by") else f" ({d['status']})"
        print(f"  {d['decided_at']} {d['decision']} by {d['analyst']}: {d['reason']}{approval}")
    if not case["decisions"]:
        print("  none yet")
    if case.get("report"):
        r = case["report"]
        print(f"report {r['report_id']}: {r['status']} (prepared by {r['prepared_by']}"
              f"{', approved by ' + r['approved_by'] if r.get('approved_by') else ''})")
    return 0


def cmd_case_assign(args) -> int:
    store = _store()
    actor = _authenticate(store, args, args.actor or args.to, "case_assign", args.case_id)
    case = _run(lambda: store.assign(args.case_id, to=args.to, actor=actor, expected_version=args.expected_version))
    print(f"{case['case_id']} assigned to {case['assigned_to']}")
    return 0


def cmd_case_decide(args) -> int:
    store = _store()
    analyst = _authenticate(store, args, args.analyst, "case_decide", args.case_id)
    case = _run(lambda: store.decide(args.case_id, decision=args.decision, reason=args.reason, analyst=analyst,
                                     expected_version=args.expected_version))
    follow = " (awaiting a second analyst: kyc case approve)" if case["status"] == "pending_approval" else ""
    print(f"{case['case_id']}: {args.decision} recorded by {analyst}; status {case['status']}{follow}")
    return 0


def cmd_case_approve(args) -> int:
    store = _store()
    analyst = _authenticate(store, args, args.analyst, "report_approve" if args.report else "case_approve",
                            args.case_id)
    if args.report:
        case = _run(lambda: store.approve_report(args.case_id, analyst=analyst, expected_version=args.expected_version))
        print(f"{case['case_id']}: report {case['report']['report_id']} approved by {analyst}")
    else:
        case = _run(lambda: store.approve(args.case_id, analyst=analyst, reason=args.reason or "",
                                          expected_version=args.expected_version))
        print(f"{case['case_id']}: confirmation approved by {analyst}; closed, report {case['report']['report_id']} "
              "drafted")
    return 0


def cmd_case_reject(args) -> int:
    store = _store()
    analyst = _authenticate(store, args, args.analyst, "case_reject", args.case_id)
    case = _run(lambda: store.reject(args.case_id, analyst=analyst, reason=args.reason,
                                     expected_version=args.expected_version))
    print(f"{case['case_id']}: confirmation rejected by {analyst}; status {case['status']}")
    return 0


def _institution() -> str:
    from kyc_assets.settings import Settings

    return Settings.from_env().institution_name


def cmd_case_report(args) -> int:
    from kyc_assets.cases.sar import build_sar
    from kyc_assets.cli import _output

    store = _store()
    analyst = _reader(store, args, args.case_id)
    document = _run(lambda: build_sar(store.get_case(args.case_id), institution=_institution()))
    _viewed(store, analyst, args.case_id, "report_viewed")
    with _output(args.out) as fh:
        fh.write(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return 0


def _document_store():
    from kyc_assets.onboarding.store import DocumentStore
    from kyc_assets.settings import Settings, document_keys

    return DocumentStore(Settings.from_env().document_store_url, document_keys())  # a folder or s3://


def _instance(args):
    """The platform's Dagster instance (Settings.dagster_home: DAGSTER_HOME, by default
    $KYC_HOME/dagster_home), None with --without-instance; a one-line error when there is none."""
    from kyc_assets.audit.trace import TraceError, find_instance
    from kyc_assets.settings import Settings

    if getattr(args, "without_instance", False):
        return None
    try:
        return find_instance(Settings.from_env().dagster_home)
    except TraceError as exc:
        raise _cli_error(str(exc)) from exc


def _warehouse_path():
    from kyc_assets.settings import Settings

    return Settings.from_env().warehouse_path


def cmd_case_export(args) -> int:
    from kyc_assets.cases.export import export_bundle

    store = _store()
    actor = _authenticate(store, args, args.actor, "case_export", args.case_id)
    instance = _instance(args)
    try:
        manifest = _run(lambda: export_bundle(store, args.case_id, args.out, document_store=_document_store(),
                                              instance=instance, institution=_institution(),
                                              actor=actor, warehouse_path=_warehouse_path()))
    finally:
        if instance is not None:
            instance.dispose()
    missing = manifest["missing_documents"]
    print(f"{manifest['case_id']}: {len(manifest['files'])} files written to {args.out} (manifest sha256 "
          f"{manifest['manifest_sha256']}){f', {len(missing)} document(s) not in the store' if missing else ''}",
          file=sys.stderr)
    return 0


def cmd_case_verify_bundle(args) -> int:
    from kyc_assets.cases.export import verify_bundle

    problems = _run(lambda: verify_bundle(args.bundle))
    if problems:
        print(f"bundle {args.bundle} does not verify: {problems[0]} ({len(problems)} problem(s))", file=sys.stderr)
        return 1
    print(f"bundle {args.bundle} verifies")
    return 0


def cmd_case_purge(args) -> int:
    store = _store()
    actor = _authenticate(store, args, args.actor, "case_delete", args.case_id)
    _run(lambda: store.delete_case(args.case_id, actor=actor))
    print(f"{args.case_id} deleted (its retention period had ended; audit entries kept)")
    return 0


def cmd_case_rotate_keys(args) -> int:
    store = _store()
    actor = _authenticate(store, args, args.actor, "pii_keys_rotate", "cases")
    changed = _run(lambda: store.rotate_pii_keys(actor=actor))
    print(f"{changed} case(s) re-encrypted under the newest key of KYC_CASE_KEYS")
    return 0


def cmd_case_hash_password(args) -> int:
    from kyc_assets.cases.analysts import hash_password

    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("password: ")
    if not password:
        raise _cli_error("an empty password cannot be hashed")
    print(hash_password(password))
    return 0


def cmd_trace(args) -> int:
    from kyc_assets.audit.trace import build_trace, render_trace

    store = _store()
    analyst = _reader(store, args, args.case_id)
    if args.case_id.startswith("REV-"):  # a perpetual-KYC review (kyc_assets/risk)
        from kyc_assets.risk.trace import trace_command

        return trace_command(store, args, _instance, _run, _print_json)
    case = _run(lambda: store.get_case(args.case_id))
    _viewed(store, analyst, case["case_id"], "case_traced")
    instance = _instance(args)
    try:
        trace = _run(lambda: build_trace(case, instance=instance, document_store=_document_store()))
    finally:
        if instance is not None:
            instance.dispose()
    if args.json:
        _print_json(trace)
    else:
        print(render_trace(trace))
    return 0


def cmd_audit_verify(args) -> int:
    import time

    started = time.perf_counter()
    report = _store().verify_audit()
    seconds = time.perf_counter() - started
    if getattr(args, "json", False):
        _print_json({"intact": report.intact, "entries": report.entries, "first_broken": report.first_broken,
                     "problem": report.problem, "seconds": round(seconds, 3), "keyed_entries": report.keyed_entries,
                     "checkpoints": report.checkpoints, "cases_checked": report.cases_checked,
                     "notes": report.notes})
        return 0 if report.intact else 1
    if report.intact:
        print(f"audit log intact: {report.entries} entries ({seconds:.1f} s)")
        print(f"  {report.keyed_entries} keyed, {report.checkpoints} checkpoints matched, "
              f"{report.cases_checked} cases match their recorded state")
        for note in report.notes:
            print(f"  note: {note}")
        return 0
    print(f"audit log broken at entry {report.first_broken}: {report.problem}", file=sys.stderr)
    return 1


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Bad arguments as one line on stderr, exit code 2 (the usage stays in --help)."""
    def error(message: str):
        parser.exit(2, f"{parser.prog}: error: {message} (see {parser.prog} --help)\n")

    parser.error = error
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _command(subparsers, name: str, help_text: str, *examples: str) -> argparse.ArgumentParser:
    """A sub-command whose help ends with examples, and whose errors are one line."""
    return _one_line_errors(subparsers.add_parser(
        name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
        epilog="example" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter))


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``case``, ``trace`` and ``audit`` to the ``kyc`` parser. Every option says its default, every
    command's help ends with an example, and a bad value is refused in one line (exit code 2)."""
    from kyc_assets.cases.store import CASE_STATUS_FILTERS, QUEUE_SORTS

    case = _command(sub, "case", "case work: list, show, assign, decide, approve, export",
                    "kyc case list --status open", "kyc case show CASE-0123456789")
    cases = case.add_subparsers(dest="case_command", required=True, metavar="COMMAND")

    def analyst(p, required=True, flag="--as", dest="analyst", what="the analyst acting"):
        p.add_argument(flag, dest=dest, required=required, metavar="ANALYST",
                       help=what if "default:" in what else f"{what} ({'required' if required else 'default: none'})")
        p.add_argument("--password-stdin", action="store_true",
                       help="read the analyst's password from the first line of stdin, when KYC_ANALYSTS_FILE "
                            "lists analysts (default: KYC_ANALYST_PASSWORD, else asked on a terminal)")

    def reader(p):
        analyst(p, required=False, what="the analyst reading (default: cli; required with KYC_ANALYSTS_FILE, "
                                        "with the password)")

    def versioned(p):
        p.add_argument("--expected-version", type=_positive, metavar="N",
                       help="refuse if the case changed since this version (default: no check)")

    def json_flag(p, what: str):
        p.add_argument("--json", action="store_true", help=f"{what} as JSON (default: text)")

    p = _command(cases, "list", "the case queue, by priority and due date",
                 "kyc case list --status open --sort due_date", "kyc case list --assigned-to alice --json")
    p.add_argument("--status", choices=CASE_STATUS_FILTERS, metavar="STATUS",
                   help=f"one of {', '.join(CASE_STATUS_FILTERS)} (active: all but closed; default: every case)")
    p.add_argument("--assigned-to", metavar="ANALYST", help="only cases assigned to this analyst (default: anyone's)")
    p.add_argument("--sort", default="priority", choices=QUEUE_SORTS, metavar="KEY",
                   help=f"one of {', '.join(QUEUE_SORTS)} (default: priority, then due date)")
    p.add_argument("--limit", type=_positive, default=1000, metavar="N", help="at most N cases (default: 1000)")
    json_flag(p, "the cases")
    reader(p)
    p.set_defaults(func=cmd_case_list)

    p = _command(cases, "show", "one case with its evidence, decisions and report",
                 "kyc case show CASE-0123456789 --json")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id, as kyc case list prints it")
    json_flag(p, "the case")
    reader(p)
    p.set_defaults(func=cmd_case_show)

    p = _command(cases, "assign", "assign a case to an analyst", "kyc case assign CASE-0123456789 --to bob --as alice")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    p.add_argument("--to", required=True, metavar="ANALYST", help="the analyst who takes the case (required)")
    analyst(p, required=False, dest="actor", what="the analyst assigning (default: the assignee)")
    versioned(p)
    p.set_defaults(func=cmd_case_assign)

    p = _command(cases, "decide", "record a decision (confirmed needs a second analyst's approval)",
                 'kyc case decide CASE-0123456789 --decision false_positive --reason "different date of birth" '
                 "--as alice")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    p.add_argument("--decision", required=True, choices=list(DECISIONS), metavar="DECISION",
                   help=f"one of {', '.join(DECISIONS)} (required)")
    p.add_argument("--reason", required=True, help="why, in words; kept in the audit log and the bundle (required)")
    analyst(p)
    versioned(p)
    p.set_defaults(func=cmd_case_decide)

    p = _command(cases, "approve", "four-eyes: approve a proposed confirmation (or, with --report, the SAR draft) "
                                   "as a second analyst",
                 "kyc case approve CASE-0123456789 --as bob", "kyc case approve CASE-0123456789 --report --as bob")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    p.add_argument("--report", action="store_true",
                   help="approve the case's SAR draft instead (default: the proposed confirmation)")
    p.add_argument("--reason", help="why the approval (default: none)")
    analyst(p)
    versioned(p)
    p.set_defaults(func=cmd_case_approve)

    p = _command(cases, "reject", "four-eyes: reject a proposed confirmation as a second analyst",
                 'kyc case reject CASE-0123456789 --reason "the DOB differs" --as bob')
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    p.add_argument("--reason", required=True, help="why the rejection (required)")
    analyst(p)
    versioned(p)
    p.set_defaults(func=cmd_case_reject)

    p = _command(cases, "report", "the SAR draft of a confirmed case (kyc-sar-json/1, schema-validated)",
                 "kyc case report CASE-0123456789 --out sar.json")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    p.add_argument("--out", metavar="FILE", help="file to write, - for stdout (default: stdout); readable by you "
                                                 "only (mode 0600): it holds personal data")
    reader(p)
    p.set_defaults(func=cmd_case_report)

    p = _command(cases, "export", "write the examiner's evidence bundle with a sha256 manifest",
                 "kyc case export CASE-0123456789 --out bundle/ --as examiner")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="a new or empty folder, readable by you only (mode 0700): the bundle holds personal data "
                        "(required)")
    analyst(p, required=False, dest="actor",
            what="the analyst exporting, recorded in the audit log (default: cli; required with KYC_ANALYSTS_FILE)")
    p.add_argument("--without-instance", action="store_true",
                   help="export without the Dagster materializations, the trace saying they are not included "
                        "(default: the instance in DAGSTER_HOME, else $KYC_HOME/dagster_home, is required)")
    p.set_defaults(func=cmd_case_export)

    p = _command(cases, "verify-bundle", "check an exported bundle against its manifest",
                 "kyc case verify-bundle bundle/")
    p.add_argument("bundle", metavar="DIR", help="the bundle folder written by kyc case export")
    p.set_defaults(func=cmd_case_verify_bundle)

    p = _command(cases, "purge", "delete a closed case whose retention period has ended",
                 "kyc case purge CASE-0123456789 --as alice")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    analyst(p, dest="actor")
    p.set_defaults(func=cmd_case_purge)

    p = _command(cases, "rotate-keys", "re-encrypt the PII columns under the newest key of KYC_CASE_KEYS",
                 "kyc case rotate-keys --as ops")
    analyst(p, required=False, dest="actor",
            what="the analyst (admin role) rotating, recorded in the audit log (default: cli; required with "
                 "KYC_ANALYSTS_FILE)")
    p.set_defaults(func=cmd_case_rotate_keys)

    p = _command(cases, "hash-password", "scrypt hash of a password (stdin) for KYC_ANALYSTS_FILE",
                 "printf '%s\\n' \"$PASSWORD\" | kyc case hash-password")
    p.set_defaults(func=cmd_case_hash_password)

    p = _command(sub, "trace", "the lineage of a case back to its source bytes",
                 "kyc trace CASE-0123456789", "DAGSTER_HOME=/srv/dagster kyc trace CASE-0123456789 --json")
    p.add_argument("case_id", metavar="CASE_ID", help="the case id")
    json_flag(p, "the trace (every materialization, and the same grouped by asset and version)")
    p.add_argument("--without-instance", action="store_true",
                   help="list only the references recorded with the case, saying the materializations are not "
                        "included (default: the instance in DAGSTER_HOME, else $KYC_HOME/dagster_home, is required)")
    reader(p)
    p.set_defaults(func=cmd_trace)

    audit = _command(sub, "audit", "audit log tools", "kyc audit verify")
    audits = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    p = _command(audits, "verify", "recompute the audit log's hash chain (exit 1 naming the first broken entry)",
                 "kyc audit verify", "kyc audit verify --json")
    json_flag(p, "the result")
    p.set_defaults(func=cmd_audit_verify)
