"""`python -m python_service export`: write ONNX models + metadata.json into the model repository.

Without --from-pickle it trains and exports the default set (python_service/export/defaults.py),
skipping models that are already up to date. With --from-pickle it exports a user's fitted
scikit-learn estimator or Pipeline. Either way the work is done by python_service/export/model.py:
convert, check parity with onnxruntime, then write atomically. Failures print one line,
`export: error: ...`, on stderr and exit with status 1.
"""

import argparse
import re
import sys
import warnings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_EPILOG = """\
SECURITY: --from-pickle loads the file with joblib/pickle, which runs code stored in that file.
Only export files you trust.

Validation rows for --from-pickle: the rows of --sample-csv (numeric, comma-separated, an optional
header row, one column per feature); without it, 200 rows drawn from a seeded normal distribution
(if the model starts with a fitted StandardScaler, drawn around its mean and scale; otherwise N(0, 1)).
"""


def add_parser(subparsers):
    """Register the `export` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "export",
        help="export the default models, or your own fitted model, to ONNX",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", default="models", metavar="DIR", help="model repository to write into (default: %(default)s)"
    )
    p.add_argument("--version", default="1", help="model version folder (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="re-export even when the model is up to date")
    p.add_argument("--only", action="append", metavar="NAME", help="export only this default model (repeatable)")
    own = p.add_argument_group("bring your own model")
    own.add_argument(
        "--from-pickle",
        metavar="PATH",
        help="a fitted scikit-learn estimator or Pipeline saved with joblib or pickle "
        "(this runs code from the file: trusted files only)",
    )
    own.add_argument("--name", help="model name for --from-pickle (folder under --out)")
    own.add_argument("--sample-csv", metavar="FILE", help="validation rows for --from-pickle")
    own.add_argument(
        "--class-labels",
        nargs="+",
        metavar="LABEL",
        help="class names in the classifier's classes_ order (default: str(c) per class)",
    )
    p.set_defaults(func=run)
    return p


def _usage_error(args):
    """One line describing an invalid flag combination, or None."""
    if args.from_pickle is None:
        extra = [
            flag
            for flag, value in (
                ("--name", args.name),
                ("--sample-csv", args.sample_csv),
                ("--class-labels", args.class_labels),
            )
            if value
        ]
        if extra:
            return "%s only applies with --from-pickle" % ", ".join(extra)
    else:
        if args.only:
            return "--only selects default models; it does not apply with --from-pickle"
        if not args.name:
            return "--from-pickle needs --name NAME"
        if not _NAME.match(args.name):
            return "--name %r: use letters, digits, '.', '_' and '-' only" % args.name
    if not _NAME.match(args.version):
        return "--version %r: use letters, digits, '.', '_' and '-' only" % args.version
    return None


def run(args):
    """Run the export described by parsed arguments; return the process exit status."""
    problem = _usage_error(args)
    if problem:
        print("export: error: %s" % problem, file=sys.stderr)
        return 2
    # Imported here, not at the top: scikit-learn and skl2onnx are slow to import and are not
    # needed by other subcommands (`serve` builds its parser from the same __main__).
    from python_service.export import defaults as export_defaults
    from python_service.export import from_pickle as export_pickle
    from python_service.export import model as export_model

    if args.only:
        unknown = sorted(set(args.only) - set(export_defaults.RECIPES_BY_NAME))
        if unknown:
            print(
                "export: error: unknown default model %s (known: %s)"
                % (", ".join(unknown), ", ".join(export_defaults.RECIPES_BY_NAME)),
                file=sys.stderr,
            )
            return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.from_pickle is None:
                export_defaults.export_defaults(args.out, version=args.version, force=args.force, only=args.only)
            else:
                export_pickle.export_from_pickle(
                    args.from_pickle,
                    name=args.name,
                    version=args.version,
                    out=args.out,
                    sample_csv=args.sample_csv,
                    class_labels=args.class_labels,
                    force=args.force,
                )
        except export_model.ExportError as err:
            print("export: error: %s" % err, file=sys.stderr)
            return 1
        except Exception as err:  # a bug or an odd environment: still one line, never a traceback
            print(
                "export: error: unexpected %s: %s" % (type(err).__name__, export_model.one_line(err)), file=sys.stderr
            )
            return 1
    for message in sorted({export_model.one_line(w.message) for w in caught}):
        print("export: warning: %s" % message, file=sys.stderr)
    return 0
