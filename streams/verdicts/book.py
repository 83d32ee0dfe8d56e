"""The latest verdict of each episode, as the compacted verdicts topic keeps it."""

from __future__ import annotations

from datetime import datetime

from schemas.verdict import EarlierVerdict, Judgement, Verdict


class VerdictBook:
    """Verdicts by alert id; a record read again (a restart reads the topic anew) changes
    nothing, an older one never replaces a newer."""

    def __init__(self) -> None:
        self.latest: dict[str, Verdict] = {}

    def add(self, verdict: Verdict) -> bool:
        """Take a record; False when it is not newer than the one known."""
        known = self.latest.get(verdict.alert_id)
        if known is not None and (known.at, len(known.earlier)) >= (
            verdict.at,
            len(verdict.earlier),
        ):
            return False
        self.latest[verdict.alert_id] = verdict
        return True

    def get(self, alert_id: str) -> Verdict | None:
        return self.latest.get(alert_id)

    def judge(
        self,
        alert_id: str,
        judgement: Judgement,
        by: str,
        at: datetime,
        note: str = "",
        **episode: object,
    ) -> Verdict:
        """A new verdict on an episode, carrying the ones before it (not added: the caller
        adds it once the topic has it)."""
        known = self.latest.get(alert_id)
        earlier = []
        if known is not None:
            earlier = [*known.earlier, EarlierVerdict(
                verdict=known.verdict, by=known.by, at=known.at, note=known.note,
            )]  # fmt: skip
            episode = {
                "rule": known.rule, "severity": known.severity, "anchor_id": known.anchor_id,
                "episode_started": known.episode_started, **episode,
            }  # fmt: skip
        return Verdict.model_validate({
            "alert_id": alert_id, "verdict": judgement, "by": by, "at": at, "note": note,
            "earlier": earlier, **episode,
        })  # fmt: skip
