"""Drive an HTTP endpoint with wrk (Debian's package) using pre-signed Twilio webhooks.

wrk's Lua cannot compute Twilio's HMAC-SHA1 signature, so Python signs every request up front
and writes one per line (signature, idempotency token, body); each wrk thread takes every n-th
line, so no two requests repeat a MessageSid unless the file runs out (reported, never hidden).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from tests.bench.common import BenchError

LUA = r"""
local reqs, counter, step = {}, 0, 1
local started = 0
function setup(thread)
  thread:set("offset", started)
  started = started + 1
end
function init(args)
  step = tonumber(args[1])
  counter = offset
  for line in io.lines(args[2]) do
    local sig, idem, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", args[3], {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = sig,
      ["I-Twilio-Idempotency-Token"] = idem,
      ["User-Agent"] = "TwilioProxy/1.1",
    }, body)
  end
end
function request()
  local r = reqs[(counter % #reqs) + 1]
  counter = counter + step
  return r
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: str | None


def require_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is not installed (make tools, or apt-get install wrk)")
    return found


def write_signed_inbound(path: Path, count: int, public_url: str, auth_token: str, account_sid: str,
                         body_text: str | list[str] = "好的，知道了", senders: list[str] | None = None) -> None:
    """`count` distinct signed inbound-SMS webhooks for POST /webhooks/twilio/sms (bodies taken in turn)."""
    bodies = [body_text] if isinstance(body_text, str) else body_text
    validator = RequestValidator(auth_token)
    url = public_url.rstrip("/") + "/webhooks/twilio/sms"
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            sender = senders[n % len(senders)] if senders else f"+86139{n % 100_000_000:08d}"
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": account_sid, "From": sender,
                      "To": "+15005550006", "Body": bodies[n % len(bodies)], "NumMedia": "0",
                      "SmsStatus": "received", "ApiVersion": "2010-04-01"}
            signature = validator.compute_signature(url, params)
            out.write(f"{signature}\t{uuid.uuid4()}\t{urlencode(params)}\n")


def run_wrk(base_url: str, requests_file: Path, seconds: int, threads: int = 2, connections: int = 32,
            path: str = "/webhooks/twilio/sms") -> WrkResult:
    script = requests_file.with_suffix(".lua")
    script.write_text(LUA, encoding="utf-8")
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
               "-s", str(script), base_url, "--", str(threads), str(requests_file), path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    return parse(done.stdout)


def parse(output: str) -> WrkResult:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    p50 = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not (total and p50 and p99):
        raise BenchError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return WrkResult(
        requests=int(total.group(1)), seconds=_seconds(total.group(2), total.group(3)),
        p50_ms=_seconds(p50.group(1), p50.group(2)) * 1000, p99_ms=_seconds(p99.group(1), p99.group(2)) * 1000,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0, socket_errors=errors.group(1) if errors else None,
    )


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]
