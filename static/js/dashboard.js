// 工作台 charts: ECharts from the project's own static files; every chart opens the list
// behind it, with the page's filters.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("figures-data").textContent);
  var links = JSON.parse(document.getElementById("figures-links").textContent);
  var charts = [];

  function go(base, extra) {
    var query = [links.query, extra].filter(Boolean).join("&");
    window.location.href = base + (query ? "?" + query : "");
  }

  function chart(id, option, onClick) {
    var el = document.getElementById(id);
    if (!el) return;
    var c = echarts.init(el);
    option.animation = false;
    c.setOption(option);
    if (onClick) c.on("click", onClick);
    el.setAttribute("data-ready", "1");
    charts.push(c);
  }

  function bars(labels, series, horizontal) {
    var cat = { type: "category", data: labels };
    var val = { type: "value", minInterval: 1 };
    return {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: horizontal ? val : cat,
      yAxis: horizontal ? cat : val,
      series: series.map(function (s) {
        return { name: s.name, type: "bar", data: s.data };
      }),
    };
  }

  var stageStatus = { interested: "status=interested", converted: "status=converted" };
  chart("chart-funnel", {
    tooltip: { trigger: "item", formatter: "{b}：{c}" },
    series: [{
      type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "8%",
      label: { formatter: "{b} {c}" },
      data: data.funnel.stages.map(function (s) { return { name: s.label, value: s.count, code: s.code }; }),
    }],
  }, function (p) { go(links.leads, stageStatus[p.data.code] || ""); });

  var channels = data.funnel.channels;
  chart("chart-channels", bars(
    channels.map(function (c) { return c.label; }),
    [
      { name: "申请", data: channels.map(function (c) { return c.applied; }) },
      { name: "已转化", data: channels.map(function (c) { return c.converted; }) },
    ]
  ), function (p) { go(links.leads, "channel=" + channels[p.dataIndex].channel); });

  chart("chart-months", bars(
    data.by_month.map(function (m) { return m.month; }),
    [
      { name: "申请", data: data.by_month.map(function (m) { return m.applied; }) },
      { name: "已转化", data: data.by_month.map(function (m) { return m.converted; }) },
    ]
  ), function (p) {
    var month = data.by_month[p.dataIndex].month;
    var start = month + "-01";
    var d = new Date(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 0);
    var end = month + "-" + String(d.getDate()).padStart(2, "0");
    window.location.href = links.leads + "?date_from=" + start + "&date_to=" + end;
  });

  var owners = data.by_owner;
  chart("chart-owners", bars(
    owners.map(function (o) { return o.label; }),
    [
      { name: "申请", data: owners.map(function (o) { return o.applied; }) },
      { name: "已转化", data: owners.map(function (o) { return o.converted; }) },
    ],
    true
  ), function (p) { var o = owners[p.dataIndex]; go(links.leads, "owner=" + (o.owner || "none")); });

  var qrs = data.by_qr;
  chart("chart-qr", bars(
    qrs.map(function (q) { return q.label; }),
    [
      { name: "申请", data: qrs.map(function (q) { return q.applied; }) },
      { name: "已转化", data: qrs.map(function (q) { return q.converted; }) },
    ],
    true
  ), function (p) { go(links.leads, "qr=" + qrs[p.dataIndex].qr); });

  function pie(id, rows, param, base) {
    chart(id, {
      tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
      series: [{
        type: "pie", radius: ["35%", "65%"],
        data: rows.map(function (r) { return { name: r.label, value: r.count, state: r.state }; }),
      }],
    }, function (p) { window.location.href = base + "?" + param + "=" + p.data.state; });
  }
  pie("chart-service", data.service_states, "service", links.customers);
  pie("chart-impl", data.impl_states, "impl", links.customers);

  chart("chart-contracts", {
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    xAxis: [{ type: "category", data: data.contract_value.map(function (m) { return m.month; }) }],
    yAxis: [{ type: "value", name: "金额（元）" }],
    series: [{
      name: "合同金额", type: "bar",
      data: data.contract_value.map(function (m) { return Number(m.amount); }),
    }],
    title: {
      text: data.expiring.map(function (e) { return e.days + " 天内到期 " + e.count; }).join("  ·  "),
      bottom: 0, left: "center", textStyle: { fontSize: 12, fontWeight: "normal" },
    },
  }, function () { window.location.href = links.contracts + "?expiring=1"; });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  document.body.setAttribute("data-charts", String(charts.length));
})();
