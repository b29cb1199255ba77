"""Settings of the API server, passed explicitly to the app factory (never read from globals)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

MiB = 1024 * 1024


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    """Address to listen on; loopback by default so a laptop farm is not on the network by accident."""
    port: int = Field(8470, ge=0, le=65535)
    """TCP port; 0 picks a free one (it is printed)."""
    tokens_file: Path | None = None
    """YAML or JSON file of bearer tokens and their shows (see auth.py); used with the environment's."""
    tokens_env: str = "SHOTFARM_TOKENS"
    """Environment variable holding `token=show1,show2;token2=*` (`*` is the admin scope)."""
    upload_limit: int = Field(64 * MiB, ge=1024)
    """Largest request body in bytes (specs, cut lists, previs movies); larger ones get 413 before they are read."""
    out: Path = Path("out")
    """Output folder: the event log lives here, and the store too unless store_url says otherwise."""
    store_url: str | None = None
    """Where frames and masters live: a folder, file:// or s3://bucket/prefix (default: `out`)."""
    call_timeout: float = Field(30.0, gt=0)
    """Seconds for any coordinator call; past it the API answers 503 instead of hanging."""
    previs_timeout: float = Field(600.0, gt=0)
    """Seconds a previs cut detection may take (decoding the whole movie)."""
    previs_max_frames: int = Field(20_000, ge=1)
    """Longest previs movie accepted, in frames (about 14 minutes at 24 fps)."""
    poll_interval: float = Field(0.25, gt=0, le=10)
    """Seconds between reads of the event log for live views and server-sent events."""
    keepalive: float = Field(15.0, gt=0)
    """Seconds of silence after which an event stream sends a comment so proxies keep it open."""
    preview_max_width: int = Field(1920, ge=16)

    @property
    def store(self) -> str:
        return self.store_url or str(self.out)
