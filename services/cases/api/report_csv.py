"""Reports as CSV files that Excel opens, with headings and words in the community's language."""
from __future__ import annotations

import csv
import io

from flask import Response

from services.cases import reports

CSV_WORDS = {
    "zh-CN": {
        "scope": "范围", "community": "小区", "collector": "收费员", "staff_id": "员工编号", "name": "姓名",
        "recovered": "回收金额", "recovered_to_date": "累计回收金额", "arrears": "欠款基数",
        "recovery_rate": "回收率", "promises_kept": "承诺兑现", "promises_broken": "承诺未兑现",
        "cases_closed": "结案数", "rank": "排名", "days_at_bottom": "连续靠后天数", "flagged": "连续靠后",
        "stage": "阶段", "reached": "进入案件数", "paid_in_time": "30天内付清", "still_counting": "观察期内",
        "conversion": "转化率", "figure": "指标", "current": "本期", "previous": "上期",
        "change": "变化", "category": "类别", "opened": "新增", "resolved": "已解决", "open_at_end": "期末未解决",
        "issue_id": "问题编号", "case_id": "案件编号", "assignee_id": "负责人", "deadline_at": "处理期限",
        "resolved_at": "解决时间", "promise_id": "承诺编号", "promised_date": "承诺日期", "amount": "金额",
        "broken_on": "违约日期", "issues_opened": "新增问题", "issues_resolved": "解决问题",
        "deadlines_breached": "超期问题", "yes": "是", "no": "否",
        "reminder": "催费提醒", "notice": "催费函", "lawyer_letter": "律师函", "follow_up_letter": "律师函后函",
        "legal_review": "法务审查", "repairs": "维修", "leaks": "漏水", "cleaning": "保洁", "security": "安保",
        "parking": "停车", "lifts": "电梯", "noise": "噪音", "greenery": "绿化", "billing_dispute": "费用争议",
        "service_attitude": "服务态度", "other": "其他",
    },
}
TRANSLATED = {"scope", "stage", "category", "figure"}  # columns whose values are words, not data


def csv_response(community: reports.Community, filename: str, *tables: tuple[list[str], list[list]]) -> Response:
    """A CSV file Excel opens as UTF-8 (it needs the BOM); several tables are separated by a blank row."""
    words = CSV_WORDS.get(community.locale, {})

    def shown(column: str, value):
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif column not in TRANSLATED or value is None:
            return "" if value is None else value
        return words.get(value, value)

    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for number, (header, rows) in enumerate(tables):
        if number:
            writer.writerow([])
        writer.writerow([words.get(h, h) for h in header])
        writer.writerows([[shown(column, v) for column, v in zip(header, row, strict=True)] for row in rows])
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})

