"""One local embedder shared by the router and the semantic cache, remembering the last
few texts it embedded, so a request that both stages judge (the router scores the last
user turn, then the semantic cache looks the same text up) pays for one forward pass.

Every text is embedded with its token vectors (one forward pass gives both), so a
vector the router asked for also serves the semantic cache's verifier. Only a few
entries are kept (token vectors are up to ~400 KB a text): enough for the moments
between the two stages of in-flight requests; an evicted text is embedded again."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from lockgate.cache.semantic.embedder import F32, TokenEmbedder, TokenVectors

__all__ = ["MemoEmbedder"]


class MemoEmbedder:
    def __init__(self, inner: TokenEmbedder, size: int = 64) -> None:
        self._inner = inner
        self._size = size
        self._memo: OrderedDict[str, TokenVectors] = OrderedDict()
        #: texts embedded by the inner model, and texts served from the memo
        self.computed = 0
        self.reused = 0

    @property
    def dim(self) -> int:
        return self._inner.dim

    async def embed_tokens(self, texts: list[str]) -> list[TokenVectors]:
        known = {t: self._memo[t] for t in texts if t in self._memo}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = await self._inner.embed_tokens(missing)
            self.computed += len(missing)
            known.update(zip(missing, fresh, strict=True))
        self.reused += len(texts) - len(missing)
        for text in dict.fromkeys(texts):
            self._memo[text] = known[text]
            self._memo.move_to_end(text)
        while len(self._memo) > self._size:
            self._memo.popitem(last=False)
        return [known[t] for t in texts]

    async def embed(self, texts: list[str]) -> F32:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = [v.sentence for v in await self.embed_tokens(texts)]
        out: F32 = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        return out
