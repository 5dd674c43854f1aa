"""Documents: add, get, list, count."""
from __future__ import annotations

from typing import Iterable

from sqlite_utils import Database
from xsent_core.types import AspectSpan, Example, InputError

from db import codec, validate
from db.connection import StoreConnection, _check_page
from db.errors import NotFoundError
from db.records import Document
from db.rows import _insert_annotation


class DocumentRecords(StoreConnection):
    """Documents: add, get, list, count."""

    def add_documents(
        self,
        examples: Iterable[Example],
        source: str | None = None,
        *,
        gold_annotator: str | None = None,
        reuse_existing: bool = False,
    ) -> list[int]:
        """Store examples as documents (one transaction); returns their ids in order.

        `Example.id` is kept as `external_id`. Labels/spans on the examples are
        ignored unless `gold_annotator` is given: then each labelled example gets
        annotation version 1 by that annotator (e.g. "gold:semeval").
        With `reuse_existing`, a document of the same source, external id, text
        and image is returned instead of a new one (checked inside the write, so
        two concurrent calls still store it once).
        """
        items = list(examples)
        gold: list[tuple[str | None, tuple[AspectSpan, ...]] | None] = []
        if gold_annotator is not None:
            gold_annotator = validate.check_annotator(gold_annotator)
        for ex in items:
            if not isinstance(ex, Example):
                raise InputError(f"add_documents takes Example records, got {type(ex).__name__}")
            if not ex.text.strip() and not ex.image:
                raise InputError(f"example {ex.id!r} has neither text nor an image")
            validate.check_text(ex.text, f"example {ex.id!r}")
            if gold_annotator is not None and (ex.label is not None or ex.spans):
                where = f"example {ex.id!r}"
                label = validate.check_label(ex.label, where)
                gold.append((label, validate.check_spans(ex.spans, ex.text, where)))
            else:
                gold.append(None)

        def tx(db: Database) -> list[int]:
            now = codec.now_iso()
            ids: list[int] = []
            for ex, g in zip(items, gold):
                if reuse_existing:
                    found = db.execute(
                        "SELECT id FROM documents WHERE source IS ? AND external_id IS ? AND text = ? AND image IS ? LIMIT 1",
                        [source, ex.id, ex.text, ex.image],
                    ).fetchone()
                    if found is not None:
                        ids.append(int(found[0]))
                        continue
                doc_id = db["documents"].insert(
                    {
                        "text": ex.text,
                        "lang": ex.lang,
                        "image": ex.image,
                        "source": source,
                        "external_id": ex.id,
                        "created": now,
                    }
                ).last_pk
                ids.append(int(doc_id))
                if g is not None:
                    note = f"imported from {source}"
                    _insert_annotation(db, int(doc_id), 1, None, gold_annotator or "", g[0], g[1], note, now)
            return ids

        return self._write("add_documents", tx)

    def get_document(self, document_id: int) -> Document:
        validate.check_number(document_id, "a document id")
        rows = self._read("SELECT * FROM documents WHERE id = ?", [document_id])
        if not rows:
            raise NotFoundError(f"document {document_id} is not in the store")
        return codec.document_from_row(rows[0])

    def list_documents(
        self,
        *,
        source: str | None = None,
        lang: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Document]:
        """Documents, newest first, optionally only from one source / language."""
        _check_page(limit, offset)
        rows = self._read(
            "SELECT * FROM documents WHERE (:source IS NULL OR source = :source) "
            "AND (:lang IS NULL OR lang = :lang) ORDER BY created DESC, id DESC "
            "LIMIT :limit OFFSET :offset",
            {"source": source, "lang": lang, "limit": limit, "offset": offset},
        )
        return [codec.document_from_row(r) for r in rows]

    def count_documents(self, *, source: str | None = None, lang: str | None = None) -> int:
        rows = self._read(
            "SELECT count(*) AS n FROM documents WHERE (:source IS NULL OR source = :source) "
            "AND (:lang IS NULL OR lang = :lang)",
            {"source": source, "lang": lang},
        )
        return int(rows[0]["n"])
