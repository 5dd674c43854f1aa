"""Start the xsent app: `python app.py [--host H] [--port P] [--share --auth user:pass]`."""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="xsent: cross-lingual sentiment workbench")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="make a public Gradio link (requires --auth)")
    p.add_argument("--share-server", help="self-hosted tunnel address host:port (frp), for teams running their own")
    p.add_argument("--auth", action="append", default=[], metavar="USER:PASS", help="login; repeat for several users (visible in `ps`: prefer --auth-file or $XSENT_AUTH)")
    p.add_argument("--auth-file", type=Path, help="file with one USER:PASS per line (# comments); $XSENT_AUTH takes the same lines")
    p.add_argument("--db", type=Path, default=ROOT / "data" / "xsent.sqlite3", help="SQLite store")
    p.add_argument("--models-dir", type=Path, default=ROOT / "data" / "models", help="where models trained in the app go")
    p.add_argument("--work-dir", type=Path, default=ROOT / "data" / "work", help="uploads and exports")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="CPU inference precision: auto = int8 for models whose recorded parity check allows it")
    p.add_argument("--max-upload-mb", type=int, default=20, help="largest single upload")
    p.add_argument("--upload-quota-mb", type=int, default=200, help="most one user may upload per hour (0: no quota)")
    return p.parse_args(argv)


def read_auth(args: argparse.Namespace) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """(users, warnings) from --auth, $XSENT_AUTH (one USER:PASS per line) and --auth-file.

    A malformed entry is refused by where it is (never by its content: it may be a
    password); a password is kept exactly as written, spaces included, with a note.
    """
    entries = [(f"--auth entry {i}", e) for i, e in enumerate(args.auth, 1)]
    warnings = []
    if args.auth:
        warnings.append(
            "warning: --auth puts passwords on the command line, where `ps` shows them to every user of this "
            "machine; pass them with --auth-file FILE or the XSENT_AUTH environment variable instead."
        )
    env = os.environ.get("XSENT_AUTH", "")
    entries += [(f"XSENT_AUTH line {n}", line) for n, line in enumerate(env.splitlines(), 1) if line.strip()]
    if args.auth_file:
        try:
            text = args.auth_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SystemExit(f"error: auth file {args.auth_file}: not found") from None
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else "not readable as UTF-8 text"
            raise SystemExit(f"error: auth file {args.auth_file}: {reason}") from None
        entries += [
            (f"{args.auth_file.name} line {n}", line)
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    users = []
    for where, entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise SystemExit(f"error: {where} must look like USER:PASS (its content is not shown)")
        if password != password.strip():
            warnings.append(f"note: the password of {user.strip()!r} ({where}) starts or ends with spaces; they are part of it")
        users.append((user.strip(), password))
    return tuple(users), warnings


def read_users(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    return read_auth(args)[0]


def check_paths(args: argparse.Namespace) -> None:
    """Refuse to serve a folder that holds the store, or a folder far too wide to serve (/, a home)."""
    served = args.work_dir.expanduser().resolve()
    store = args.db.expanduser().resolve()
    home = Path.home().resolve()
    if served == Path(served.anchor) or served == home or served in home.parents or served.parent == Path("/home"):
        raise SystemExit(
            f"error: --work-dir {served} is where uploads and exports go and what the browser is served from; "
            f"it must be a folder of its own, not / or a home directory (default: {ROOT / 'data' / 'work'})"
        )
    if served == store.parent or served in store.parents:
        raise SystemExit(
            f"error: the store --db {store} lies inside --work-dir {served}, which the browser is served from: "
            "anyone with the link could download the database. Keep the store outside the work folder."
        )


def guards(users: tuple[tuple[str, str], ...], upload_quota_mb: int, window_s: int) -> dict:
    """FastAPI arguments that put failed-login throttling (when there are logins) and the
    per-user upload quota (unless 0) in front of Gradio's routes."""
    from starlette.middleware import Middleware

    from views.login_throttle import LoginThrottle
    from views.upload_quota import UploadQuota

    middleware = [Middleware(LoginThrottle)] if users else []
    if upload_quota_mb > 0:
        middleware.append(Middleware(UploadQuota, quota_bytes=upload_quota_mb * 2**20, window_s=window_s))
    return {"middleware": middleware} if middleware else {}


def url_host(host: str) -> str:
    """The host as it goes into a URL: an IPv6 address in brackets (`::` -> `[::]`), as Gradio expects."""
    bare = host.strip("[]")
    try:
        return f"[{bare}]" if ipaddress.ip_address(bare).version == 6 else bare
    except ValueError:
        return host  # a name such as localhost


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(args: argparse.Namespace, users: tuple[tuple[str, str], ...]) -> list[str]:
    """Refuse a public link without login; warn when listening beyond loopback without login."""
    if args.share and not users:
        raise SystemExit(
            "error: --share makes the app reachable from the internet, so it needs a login.\n"
            "Add --auth USER:PASS (repeatable) or --auth-file FILE, e.g.\n"
            "  python app.py --share --auth alice:s3cret"
        )
    warnings = []
    if not is_loopback(args.host) and not users:
        warnings.append(
            f"warning: listening on {args.host} without --auth: anyone on your network can use the app "
            "and write annotations. Add --auth USER:PASS to require a login."
        )
    return warnings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_paths(args)
    users, notes = read_auth(args)
    for w in notes + check_exposure(args, users):
        print(w, file=sys.stderr)
    from views.services import AppSettings, Services
    from xsent_core.registry import method_names

    settings = AppSettings(
        host=args.host,
        port=args.port,
        share=args.share,
        users=users,
        db_path=args.db,
        models_dir=args.models_dir,
        shipped_dir=ROOT / "assets" / "models",
        work_dir=args.work_dir,
        device=args.device,
        precision=args.precision,
        max_upload_mb=args.max_upload_mb,
        upload_quota_mb=args.upload_quota_mb,
    )
    from xsent_core.types import XsentError

    try:
        services = Services.create(settings)
    except XsentError as e:  # an unusable store or models folder: the message, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    # the Predict tab's first model loads while Gradio imports and the page is built: ready by the first click
    preloading = services.models.preload(method_names()[0])  # the Predict tab's first method
    from views.layout import build_app, page_css
    from views.umap_warmup import start_umap_warmup

    # then UMAP's kernels (in the background too): the Alignment tab never waits on them unseen
    start_umap_warmup(services, after=preloading)
    demo = build_app(services)
    # predictions stay responsive while a training job runs: jobs have their own worker
    demo.queue(default_concurrency_limit=2, max_size=64)
    _, local_url, share_url = demo.launch(
        server_name=url_host(args.host),
        server_port=args.port,
        share=args.share,
        share_server_address=args.share_server,
        auth=list(users) or None,
        allowed_paths=[str(settings.work_dir.resolve())],
        max_file_size=f"{args.max_upload_mb}mb",
        css=page_css(),
        prevent_thread_lock=True,
        footer_links=["api"],
        app_kwargs=guards(users, settings.upload_quota_mb, settings.upload_keep_s),
    )
    if args.share and not share_url:
        print(
            "No public share link was created: Gradio could not reach its tunnel service or download its "
            "tunnel client (this machine may be offline). The app is still served locally at "
            f"{local_url}. Teams with their own frp server can pass --share-server HOST:PORT.",
            file=sys.stderr,
        )
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
