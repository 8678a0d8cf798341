"""The test oracle for Japanese holidays: 内閣府「国民の祝日について」 as published, 2026–2027.

Source: https://www8.cao.go.jp/chosei/shukujitsu/gaiyou.html and its CSV
https://www8.cao.go.jp/chosei/shukujitsu/syukujitsu.csv (dates as published; rows named 「休日」
are 振替休日 (2026-05-06, 2027-03-22) and 国民の休日 (2026-09-22)). The runtime takes its holidays
from the ``jpholiday`` package (``reawake.core.holidays_jp``); this list checks it. When 内閣府
publishes a new year (each February), add its rows here.
"""

from __future__ import annotations

from datetime import date

PUBLISHED_YEARS = range(2026, 2028)

HOLIDAYS: dict[date, str] = {
    # 2026 (令和8年)
    date(2026, 1, 1): "元日",
    date(2026, 1, 12): "成人の日",
    date(2026, 2, 11): "建国記念の日",
    date(2026, 2, 23): "天皇誕生日",
    date(2026, 3, 20): "春分の日",
    date(2026, 4, 29): "昭和の日",
    date(2026, 5, 3): "憲法記念日",
    date(2026, 5, 4): "みどりの日",
    date(2026, 5, 5): "こどもの日",
    date(2026, 5, 6): "休日",  # 振替休日 (憲法記念日 is a Sunday)
    date(2026, 7, 20): "海の日",
    date(2026, 8, 11): "山の日",
    date(2026, 9, 21): "敬老の日",
    date(2026, 9, 22): "休日",  # 国民の休日 (between 敬老の日 and 秋分の日)
    date(2026, 9, 23): "秋分の日",
    date(2026, 10, 12): "スポーツの日",
    date(2026, 11, 3): "文化の日",
    date(2026, 11, 23): "勤労感謝の日",
    # 2027 (令和9年)
    date(2027, 1, 1): "元日",
    date(2027, 1, 11): "成人の日",
    date(2027, 2, 11): "建国記念の日",
    date(2027, 2, 23): "天皇誕生日",
    date(2027, 3, 21): "春分の日",
    date(2027, 3, 22): "休日",  # 振替休日 (春分の日 is a Sunday)
    date(2027, 4, 29): "昭和の日",
    date(2027, 5, 3): "憲法記念日",
    date(2027, 5, 4): "みどりの日",
    date(2027, 5, 5): "こどもの日",
    date(2027, 7, 19): "海の日",
    date(2027, 8, 11): "山の日",
    date(2027, 9, 20): "敬老の日",
    date(2027, 9, 23): "秋分の日",
    date(2027, 10, 11): "スポーツの日",
    date(2027, 11, 3): "文化の日",
    date(2027, 11, 23): "勤労感謝の日",
}

