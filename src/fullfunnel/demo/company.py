"""The demo company's constants and scenarios: channels, titles, tactics, the planted
conversion rates, delays and effort split of each scenario."""

from __future__ import annotations

import dataclasses

import numpy as np

DAY_US = 86_400_000_000
HISTORY_DAYS = 730
STEPS = ("lead", "mql", "sal", "sql", "opportunity", "customer", "advocate")

CHANNELS = (
    "paid_search",
    "paid_social",
    "seo",
    "content",
    "webinar",
    "events",
    "email",
    "referral",
    "partner",
    "outbound",
)
CHANNEL_MIX = np.array([0.16, 0.12, 0.18, 0.12, 0.08, 0.06, 0.06, 0.06, 0.06, 0.10])
# True multiplier on lead→mql and mql→sal conversion by source channel.
CHANNEL_LIFT = np.array([1.0, 0.7, 1.1, 0.9, 1.3, 1.2, 0.8, 1.9, 1.4, 0.8])
# Share of later marketing touches that come through the contact's source channel.
SOURCE_RETURN = 0.2
TITLES = (
    ("Chief Revenue Officer", 1.6),
    ("VP Marketing", 1.5),
    ("VP Sales", 1.5),
    ("Director of Operations", 1.25),
    ("Head of Growth", 1.25),
    ("Marketing Manager", 1.0),
    ("Sales Manager", 1.0),
    ("Analyst", 0.75),
    ("Coordinator", 0.7),
    ("Student", 0.35),
)
TITLE_MIX = np.array([0.03, 0.05, 0.05, 0.08, 0.07, 0.2, 0.15, 0.17, 0.12, 0.08])
INDUSTRIES = ("software", "financial services", "manufacturing", "healthcare", "retail")
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU")

# channel → (tactic, kind, segment) of the marketing touches it carries
CHANNEL_TACTIC = {
    "paid_search": ("paid_search_ads", "ad_click", "tofu"),
    "paid_social": ("paid_social_ads", "ad_click", "tofu"),
    "seo": ("seo_content", "web_visit", "tofu"),
    "content": ("gated_content", "form_fill", "tofu"),
    "webinar": ("webinars", "webinar", "tofu"),
    "events": ("trade_shows", "event", "tofu"),
    "email": ("nurture_email", "email", "mofu"),
    "referral": ("referral_program", "web_visit", "post"),
    "partner": ("partner_co_marketing", "meeting", "tofu"),
    "outbound": ("cold_outbound", "call", "tofu"),
}
# tactics marketing runs for contacts already in a segment: (tactic, channel, kind)
SEGMENT_TACTICS = {
    "mofu": [
        ("nurture_email", "email", "email"),
        ("retargeting_ads", "paid_social", "ad_click"),
        ("analyst_report", "content", "form_fill"),
    ],
    "bofu": [
        ("case_studies", "content", "web_visit"),
        ("roi_calculator", "content", "form_fill"),
        ("pricing_page_retargeting", "paid_search", "ad_click"),
        ("customer_reference_program", "events", "meeting"),
    ],
    "post": [
        ("customer_webinars", "webinar", "webinar"),
        ("advocacy_program", "email", "email"),
    ],
}


@dataclasses.dataclass(frozen=True)
class Scenario:
    """The generating parameters of one demo company."""

    name: str
    conversion: tuple[float, ...]  # lead→mql … customer→advocate
    spend_share: dict[str, float]  # tofu, mofu, bofu, post
    tofu_touches: float  # marketing touches per lead
    segment_touches: dict[str, float]  # marketing touches per contact in mofu/bofu/post
    volume_trend: float  # ratio of the last month's new leads to the first month's
    deal_median: float
    untouched_mql_share: float = 0.12
    exit_share: tuple[float, ...] = (0.25, 0.55, 0.6, 0.6, 1.0, 0.0)
    target_factor: float = 1.15


SCENARIOS = {
    "balanced": Scenario(
        name="balanced",
        conversion=(0.20, 0.55, 0.65, 0.55, 0.30, 0.15),
        spend_share={"tofu": 0.42, "mofu": 0.25, "bofu": 0.25, "post": 0.08},
        tofu_touches=3.0,
        segment_touches={"mofu": 2.0, "bofu": 2.0, "post": 1.0},
        volume_trend=1.6,
        deal_median=30_000,
    ),
    "top-heavy": Scenario(
        name="top-heavy",
        conversion=(0.22, 0.28, 0.42, 0.35, 0.14, 0.08),
        spend_share={"tofu": 0.76, "mofu": 0.12, "bofu": 0.07, "post": 0.05},
        tofu_touches=5.5,
        segment_touches={"mofu": 1.0, "bofu": 0.3, "post": 0.3},
        volume_trend=2.2,
        deal_median=25_000,
        exit_share=(0.1, 0.25, 0.3, 0.35, 1.0, 0.0),
    ),
    "bottom-heavy": Scenario(
        name="bottom-heavy",
        conversion=(0.24, 0.62, 0.72, 0.62, 0.42, 0.22),
        spend_share={"tofu": 0.14, "mofu": 0.18, "bofu": 0.56, "post": 0.12},
        tofu_touches=1.5,
        segment_touches={"mofu": 2.5, "bofu": 4.0, "post": 1.5},
        volume_trend=0.35,
        deal_median=40_000,
        target_factor=1.6,
    ),
}

# median days and lognormal sigma of each step's delay (lead→mql … customer→advocate)
DELAY_MEDIAN = np.array([12.0, 1.5, 8.0, 6.0, 40.0, 120.0])
DELAY_SIGMA = 0.7
EXIT_MEDIAN = np.array([45.0, 10.0, 12.0, 14.0, 50.0, 60.0])

# the stage of an event (an index into STAGE_NAMES), and the team that owns it
STAGE_NAMES = np.array([*STEPS, "disqualified", "closed_lost", "recycled"])
STAGE_OWNER = np.array(
    ["marketing", "bdr", "bdr", "sales", "sales", "am", "am", "bdr", "sales", "bdr"]
)
