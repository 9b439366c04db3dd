"""Stream one answer from a running ``docent serve`` and print it as it arrives.

Usage: python scripts/stream_answer.py BASE_URL COLLECTION QUESTION
"""

import json
import sys

import httpx


def main(base_url: str, collection: str, question: str) -> int:
    body = {"question": question, "collection": collection, "options": {"temperature": 0}}
    with httpx.stream("POST", f"{base_url}/v1/query", json=body, timeout=300) as response:
        if response.status_code != 200:
            print(f"error {response.status_code}: {response.read().decode()}")
            return 1
        for line in response.iter_lines():
            event = json.loads(line)
            if event["type"] == "sources":
                sources = event["sources"]
            elif event["type"] == "delta":
                print(event["text"], end="", flush=True)
            elif event["type"] == "error":
                print(f"\nerror: {event['message']}")
                return 1
            elif event["type"] == "done":
                print("\n\nSources:")
                for source in sources:
                    page = f" p.{source['page']}" if source["page"] else ""
                    score = f"(score {source['score']:.3f})"
                    print(f"  [{source['n']}] {source['source']}{page}  {score}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
