"""`amber backup` and `amber restore` on an S3 repository (s3://bucket/prefix), against a real
S3-protocol server started here: moto's server mode (`moto_server`, from `pip install
"moto[server]"`; scripts/test installs it), on a free loopback port, stopped by PID.

Round trip (create, list, verify, prune, restore offline and online: DEBUG DIGEST equal), kill -9
in the middle of an upload (no catalog entry, its multipart upload swept by prune), corruption
caught by verify, and the errors a user meets first (no such bucket, credentials refused,
endpoint unreachable, plain http not allowed) named with their fix and exit code 2."""

import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time

import boto3
import pytest

from conftest import ServerProc, free_port
from datasets import fill
from test_backup import addr, digest, redis, servers, start, tool, total_keys  # noqa: F401

KEY, SECRET, REGION = "testing-key", "testing-secret", "us-east-1"


class Moto:
    """moto_server on 127.0.0.1:<port>; `extra_env` for its own settings."""

    def __init__(self, tmp, extra_env=None):
        exe = shutil.which("moto_server")
        if not exe:
            raise RuntimeError('moto_server is not installed: pip install "moto[server]" (scripts/test does)')
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / f"moto-{self.port}.log", "wb")
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log,
                                     stderr=subprocess.STDOUT, env={**os.environ, **(extra_env or {})})
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server did not listen on {self.port} within 30 s")
                time.sleep(0.1)

    def client(self, service="s3", key=KEY, secret=SECRET):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=key,
                            aws_secret_access_key=secret)

    def env(self, key=KEY, secret=SECRET):
        """The environment `amber` runs with: the usual AWS variables, nothing else of AWS."""
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        e.update(AWS_ENDPOINT_URL=self.url, AWS_ALLOW_HTTP="true", AWS_ACCESS_KEY_ID=key,
                 AWS_SECRET_ACCESS_KEY=secret, AWS_REGION=REGION)
        return e

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"))
    yield m
    m.stop()


_buckets = [0]


@pytest.fixture
def bucket(moto):
    """A new, empty bucket."""
    _buckets[0] += 1
    name = f"bkt-{os.getpid()}-{_buckets[0]}"
    moto.client().create_bucket(Bucket=name)
    return name


def run(env, *args, check=None, timeout=180):
    p = subprocess.run([tool(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode}, wanted {check}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def run_json(env, *args, check=0):
    return json.loads(run(env, *args, "--json", check=check).stdout)


def keys(s3, bucket, prefix=""):
    out = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in out)


def multipart_uploads(s3, bucket):
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def shape(v):
    """The structure of a JSON value: key names and value kinds, not the values."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return "null" if v is None else type(v).__name__


def test_round_trip_on_s3(tmp_path, servers, moto, bucket):
    env = moto.env()
    src = start(servers, redis(tmp_path / "src"))
    c = src.client()
    fill(c)
    want = digest(src)
    repo = f"s3://{bucket}/amber/prod"
    first = run_json(env, "backup", "create", "--from", addr(src), "--repo", repo)
    e = first["entry"]
    assert first["ok"] and e["verified"] and e["keys"] == total_keys(c)
    s3 = moto.client()
    assert keys(s3, bucket) == [f"amber/prod/catalog/{e['id']}.json", f"amber/prod/data/{e['id']}.rdb.zst"]
    obj = s3.get_object(Bucket=bucket, Key=f"amber/prod/{e['object']}")["Body"].read()
    import hashlib
    assert len(obj) == e["stored_size"] and hashlib.sha256(obj).hexdigest() == e["stored_sha256"]
    c.set(b"after-first", b"1")
    second = run_json(env, "backup", "create", "--from", addr(src), "--repo", repo)["entry"]
    listed = run_json(env, "backup", "list", "--repo", repo)
    assert [b["id"] for b in listed["backups"]] == [e["id"], second["id"]]
    assert listed["repository"] == repo and listed["partial_uploads"] == 0 and listed["orphan_objects"] == []
    verified = run_json(env, "backup", "verify", "--all", "--repo", repo)
    assert verified["ok"] and [r["ok"] for r in verified["results"]] == [True, True]
    # The same JSON, field for field, as for a local repository.
    local = tmp_path / "local"
    run_json(env, "backup", "create", "--from", addr(src), "--repo", local)
    assert shape(run_json(env, "backup", "list", "--repo", local)) == shape(listed)
    assert shape(run_json(env, "backup", "verify", "--all", "--repo", local)) == shape(verified)
    # Offline restore of the first backup: the dataset as it was then.
    d = tmp_path / "restored"
    r = run_json(env, "restore", e["id"], "--repo", repo, "--data-dir", d)
    assert r["ok"]
    assert digest(start(servers, ServerProc("redis", d).start())) == want
    # Online restore into a running server.
    dst = start(servers, redis(tmp_path / "dst"))
    assert run_json(env, "restore", e["id"], "--repo", repo, "--into", addr(dst))["ok"]
    assert digest(dst) == want
    # Flags instead of variables: --endpoint and --region win over AWS_ENDPOINT_URL / AWS_REGION.
    wrong = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_REGION": "eu-west-3"}
    again = run_json(wrong, "backup", "list", "--repo", repo, "--endpoint", moto.url, "--region", REGION)
    assert [b["id"] for b in again["backups"]] == [e["id"], second["id"]]
    # Prune: the older one goes, data first never left without its entry.
    out = run_json(env, "backup", "prune", "--repo", repo, "--keep-last", "1", "--apply")
    assert out["removed"] == [e["id"]]
    assert keys(s3, bucket) == [f"amber/prod/catalog/{second['id']}.json", f"amber/prod/data/{second['id']}.rdb.zst"]
    assert multipart_uploads(s3, bucket) == []
    run(env, "restore", e["id"], "--repo", repo, "--data-dir", tmp_path / "gone", check=2)


def test_kill9_mid_upload_leaves_no_entry_and_prune_sweeps_the_parts(tmp_path, servers, moto, bucket):
    env = moto.env()
    # Incompressible values, 24 MB: three 8 MiB parts; 250 µs per key makes it last ~6 s.
    src = start(servers, redis(tmp_path / "src"))
    c = src.client()
    p = c.pipeline(transaction=False)
    for i in range(24000):
        p.set(f"key:{i}".encode(), os.urandom(1000))
    p.execute()
    repo = f"s3://{bucket}/r"
    good = run_json(env, "backup", "create", "--from", addr(src), "--repo", repo)["entry"]["id"]
    c.config_set("rdb-key-save-delay", 250)
    s3 = moto.client()
    proc = subprocess.Popen([tool(), "backup", "create", "--from", addr(src), "--repo", repo, "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    parts = []
    while time.time() < deadline and proc.poll() is None:
        ups = multipart_uploads(s3, bucket)
        if ups:
            parts = s3.list_parts(Bucket=bucket, Key=ups[0]["Key"], UploadId=ups[0]["UploadId"]).get("Parts", [])
            if parts:
                break
        time.sleep(0.05)
    assert proc.poll() is None, f"the backup ended before it could be killed: {proc.communicate()}"
    assert parts, "no part was uploaded within 60 s"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    c.config_set("rdb-key-save-delay", 0)
    assert len(multipart_uploads(s3, bucket)) == 1  # the killed upload's parts are still stored
    listed = run_json(env, "backup", "list", "--repo", repo)
    assert [b["id"] for b in listed["backups"]] == [good]
    assert listed["partial_uploads"] == 1 and listed["orphan_objects"] == []
    assert run_json(env, "backup", "verify", "--all", "--repo", repo)["ok"]
    # A young upload may be a backup in progress: kept by default.
    out = run_json(env, "backup", "prune", "--repo", repo, "--keep-last", "5", "--apply")
    assert out["orphans_kept_young"] and not out["orphans_removed"]
    assert len(multipart_uploads(s3, bucket)) == 1
    out = run_json(env, "backup", "prune", "--repo", repo, "--keep-last", "5", "--orphan-grace", "0s", "--apply")
    assert len(out["orphans_removed"]) == 1 and out["removed"] == []
    assert multipart_uploads(s3, bucket) == []
    assert keys(s3, bucket) == [f"r/catalog/{good}.json", f"r/data/{good}.rdb.zst"]
    listed = run_json(env, "backup", "list", "--repo", repo)
    assert listed["partial_uploads"] == 0 and [b["id"] for b in listed["backups"]] == [good]


def test_verify_catches_a_corrupted_object(tmp_path, servers, moto, bucket):
    env = moto.env()
    src = start(servers, redis(tmp_path / "src"))
    fill(src.client())
    repo = f"s3://{bucket}"
    ids = [run_json(env, "backup", "create", "--from", addr(src), "--repo", repo)["entry"]["id"] for _ in range(2)]
    s3 = moto.client()
    key = f"data/{ids[0]}.rdb.zst"
    b = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    b[len(b) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(b))
    out = run_json(env, "backup", "verify", "--all", "--repo", repo, check=1)
    by_id = {r["id"]: r for r in out["results"]}
    assert not by_id[ids[0]]["ok"] and by_id[ids[1]]["ok"]
    assert any("SHA-256 mismatch" in p for p in by_id[ids[0]]["problems"])
    listed = {x["id"]: x for x in run_json(env, "backup", "list", "--repo", repo)["backups"]}
    assert listed[ids[0]]["verified"] is False and listed[ids[0]]["verify_error"]
    p = run(env, "restore", ids[0], "--repo", repo, "--data-dir", tmp_path / "x", check=1)
    assert "verification failed" in p.stdout
    s3.delete_object(Bucket=bucket, Key=f"data/{ids[1]}.rdb.zst")
    out = run_json(env, "backup", "verify", ids[1], "--repo", repo, check=1)
    assert "missing" in out["results"][0]["problems"][0]


def test_errors_name_the_fix(tmp_path, moto, bucket):
    env = moto.env()
    # No such bucket.
    p = run(env, "backup", "list", "--repo", "s3://no-such-bucket/x", check=2)
    assert "bucket 'no-such-bucket' does not exist" in p.stderr and moto.url in p.stderr
    p = run(env, "backup", "create", "--from", "127.0.0.1:1", "--repo", "s3://no-such-bucket/x", check=2)
    assert "does not exist" in p.stderr
    # A bucket that holds no repository.
    p = run(env, "backup", "list", "--repo", f"s3://{bucket}/nothing", check=2)
    assert "not a backup repository" in p.stderr
    # Nothing listens at the endpoint: retried a bounded number of times, then named.
    down = f"http://127.0.0.1:{free_port()}"
    t = time.time()
    p = run({**env, "AWS_ENDPOINT_URL": down}, "backup", "list", "--repo", f"s3://{bucket}", check=2, timeout=120)
    assert time.time() - t < 90
    assert f"can't reach the S3 endpoint {down} (from AWS_ENDPOINT_URL)" in p.stderr
    p = run(env, "backup", "verify", "--all", "--repo", f"s3://{bucket}", "--endpoint", down, check=2, timeout=120)
    assert "(from --endpoint)" in p.stderr
    # Plain http must be asked for.
    p = run({k: v for k, v in env.items() if k != "AWS_ALLOW_HTTP"}, "backup", "list", "--repo", f"s3://{bucket}",
            check=2)
    assert "AWS_ALLOW_HTTP=true" in p.stderr
    # No credentials anywhere (the instance metadata service is not there either).
    bare = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    p = run(bare, "backup", "list", "--repo", f"s3://{bucket}", check=2, timeout=150)
    assert "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in p.stderr, p.stderr
    # Not a repository URL amber knows.
    p = run(env, "backup", "list", "--repo", "gs://b/x", check=2)
    assert "not supported" in p.stderr


class FlakyProxy:
    """An HTTP relay to moto that answers the first `fail` requests with 503 SlowDown (what S3
    says when throttling), one request per connection."""

    def __init__(self, upstream_port, fail, no_conditional=False):
        self.fail = fail
        self.seen = 0
        # Answer 501 NotImplemented to conditional writes, as stores without them do.
        self.no_conditional = no_conditional
        self.conditional_refused = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                req = proxy.read_request(self.request)
                if req is None:
                    return
                with proxy.lock:
                    proxy.seen += 1
                    failing = proxy.seen <= proxy.fail
                if failing:
                    body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                    self.request.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                                         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                    return
                if proxy.no_conditional and b"\r\nif-none-match:" in req.split(b"\r\n\r\n")[0].lower():
                    proxy.conditional_refused += 1
                    body = b"<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>"
                    self.request.sendall(b"HTTP/1.1 501 Not Implemented\r\nContent-Type: application/xml\r\n"
                                         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                    return
                with socket.create_connection(("127.0.0.1", upstream_port)) as up:
                    up.sendall(req)
                    while True:
                        b = up.recv(1 << 16)
                        if not b:
                            break
                        self.request.sendall(b)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def read_request(sock):
        """One request, whole, with "Connection: close" so the upstream ends the response."""
        data = b""
        while b"\r\n\r\n" not in data:
            b = sock.recv(1 << 16)
            if not b:
                return None
            data += b
        head, body = data.split(b"\r\n\r\n", 1)
        lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
        length = next((int(l.split(b":", 1)[1]) for l in lines if l.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            b = sock.recv(1 << 16)
            if not b:
                return None
            body += b
        return b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n" + body

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_transient_errors_are_retried_and_bounded(tmp_path, servers, moto, bucket):
    src = start(servers, redis(tmp_path / "src"))
    fill(src.client())
    want = digest(src)
    proxy = FlakyProxy(moto.port, fail=3)
    try:
        env = {**moto.env(), "AWS_ENDPOINT_URL": proxy.url}
        e = run_json(env, "backup", "create", "--from", addr(src), "--repo", f"s3://{bucket}/t")["entry"]
        assert proxy.seen > 3  # the 3 refused requests were tried again
        d = tmp_path / "restored"
        assert run_json(env, "restore", e["id"], "--repo", f"s3://{bucket}/t", "--data-dir", d)["ok"]
        assert digest(start(servers, ServerProc("redis", d).start())) == want
        # Throttled for good: the first request, 6 retries with backoff, then an error.
        proxy.seen, proxy.fail = 0, 10**9
        t = time.time()
        p = run(env, "backup", "list", "--repo", f"s3://{bucket}/t", check=2)
        assert time.time() - t < 70
        assert proxy.seen == 7, proxy.seen
        assert "kept failing (SlowDown) through 6 retries" in p.stderr, p.stderr
    finally:
        proxy.stop()


def test_store_without_conditional_writes(tmp_path, servers, moto, bucket):
    """A store that answers 501 to If-None-Match: the entry is written after a HEAD instead."""
    src = start(servers, redis(tmp_path / "src"))
    src.client().set(b"k", b"v")
    proxy = FlakyProxy(moto.port, fail=0, no_conditional=True)
    try:
        env = {**moto.env(), "AWS_ENDPOINT_URL": proxy.url}
        e = run_json(env, "backup", "create", "--from", addr(src), "--repo", f"s3://{bucket}/nc")["entry"]
        assert proxy.conditional_refused == 7  # 501 is retried (6 times) before the fallback
        # AWS_CONDITIONAL_PUT=disabled: no conditional write is tried at all.
        f = run_json({**env, "AWS_CONDITIONAL_PUT": "disabled"}, "backup", "create", "--from", addr(src), "--repo",
                     f"s3://{bucket}/nc")["entry"]
        assert proxy.conditional_refused == 7
        listed = run_json(env, "backup", "list", "--repo", f"s3://{bucket}/nc")["backups"]
        assert [b["id"] for b in listed] == [e["id"], f["id"]]
    finally:
        proxy.stop()


def test_credentials_refused(tmp_path):
    """A moto server that checks signatures (INITIAL_NO_AUTH_ACTION_COUNT: the first 4 requests
    set up a user with S3 rights and a bucket, every later one is authenticated). moto's own
    check rejects any signed listing with a "/" in its query (boto3's too), so the user's good
    credentials are shown to work with boto3 on requests moto checks right."""
    m = Moto(tmp_path, {"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    try:
        iam = m.client("iam")
        iam.create_user(UserName="backup")
        k = iam.create_access_key(UserName="backup")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps(policy))
        m.client().create_bucket(Bucket="secure")
        good = m.client(key=k["AccessKeyId"], secret=k["SecretAccessKey"])
        good.put_object(Bucket="secure", Key="probe", Body=b"x")
        assert good.get_object(Bucket="secure", Key="probe")["Body"].read() == b"x"
        cases = [(m.env(k["AccessKeyId"], "wrong-secret"), "SignatureDoesNotMatch"),
                 (m.env("AKIANOSUCHKEY", "x"), "InvalidAccessKeyId")]
        for env, code in cases:
            for argv in (["backup", "list"], ["backup", "create", "--from", "127.0.0.1:1"],
                         ["restore", "latest", "--data-dir", tmp_path / "d"]):
                p = run(env, *argv, "--repo", "s3://secure/p", check=2)
                assert f"refused the credentials ({code})" in p.stderr, p.stderr
                assert "AWS_ACCESS_KEY_ID" in p.stderr and "AWS_SECRET_ACCESS_KEY" in p.stderr
    finally:
        m.stop()
