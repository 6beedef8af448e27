"""Ask a running ``acc-serve BUNDLE`` for predictions, standard library only.

acc-serve BUNDLE --port 8080 &
python examples/serve_client.py --url http://127.0.0.1:8080 "a gripping film" "dull"
"""

import argparse
import json
import urllib.error
import urllib.request


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # 400/422 carry {"detail": one line, "error": class}
        raise SystemExit(f"HTTP {exc.code}: {json.load(exc)['detail']}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="*", default=["a gripping, beautifully shot film", "dull and far too long"])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--speedup", type=float, default=None, help="e.g. 1.5; omit for the server's default")
    args = parser.parse_args()
    body = {"texts": args.texts} if args.speedup is None else {"texts": args.texts, "speedup": args.speedup}
    answer = post(args.url.rstrip("/") + "/predict", body)
    for text, label, probs in zip(args.texts, answer["labels"], answer["probabilities"]):
        print(f"{label:>10}  {max(probs):.3f}  {text}")
    print(
        f"profile {answer['profile']} ({answer['reason']}); graph {answer['latency_ms']:.2f} ms, "
        f"queue {answer['queue_ms']:.2f} ms, batch {answer['batch_size']}"
    )
    with urllib.request.urlopen(args.url.rstrip("/") + "/health", timeout=30) as response:
        print("health:", json.load(response)["status"])


if __name__ == "__main__":
    main()
