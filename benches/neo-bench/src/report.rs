//! The comparison as a text table, as JSON, and as an HTML page with SVG charts.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::ProtocolResult;

/// A whole run: its settings and each protocol's figures.
#[derive(Debug, Serialize)]
pub struct Run {
    pub records: u64,
    pub size: usize,
    pub rate: u64,
    pub seconds: u64,
    pub durable: bool,
    pub results: Vec<ProtocolResult>,
    /// Native figure over Kafka figure, same run.
    pub ratios: Option<Ratios>,
}

/// Same-run ratios of native to Kafka.
#[derive(Debug, Serialize)]
pub struct Ratios {
    /// Native produce records/s ÷ Kafka produce records/s (goal ≥ 1.5).
    pub produce_throughput: f64,
    /// Native consume records/s ÷ Kafka consume records/s.
    pub consume_throughput: f64,
    /// Native end-to-end p99 ÷ Kafka end-to-end p99 (goal ≤ 0.5).
    pub end_to_end_p99: f64,
}

impl Run {
    pub fn ratios_of(results: &[ProtocolResult]) -> Option<Ratios> {
        let native = results.iter().find(|r| r.protocol == "native")?;
        let kafka = results.iter().find(|r| r.protocol == "kafka")?;
        Some(Ratios {
            produce_throughput: native.produce.records_per_sec / kafka.produce.records_per_sec,
            consume_throughput: native.consume.records_per_sec / kafka.consume.records_per_sec,
            end_to_end_p99: native.end_to_end.p99_us as f64 / kafka.end_to_end.p99_us.max(1) as f64,
        })
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// The comparison table (Markdown).
pub fn table(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} records of {} bytes; fixed rate {}/s for {} s; acks {}\n",
        run.records,
        run.size,
        run.rate,
        run.seconds,
        if run.durable { "durable" } else { "leader" }
    );
    let _ = writeln!(
        out,
        "| protocol | produce rec/s | produce MB/s | ack p50 ms | ack p99 ms | consume rec/s | e2e p50 ms | e2e p99 ms | e2e p99.9 ms | e2e max ms | rpc p50 ms | rpc p99 ms | rpc p99.9 ms |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &run.results {
        let rpc = r.rpc.as_ref();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            r.protocol,
            r.produce.records_per_sec,
            r.produce.mb_per_sec,
            ms(r.produce_ack.p50_us),
            ms(r.produce_ack.p99_us),
            r.consume.records_per_sec,
            ms(r.end_to_end.p50_us),
            ms(r.end_to_end.p99_us),
            ms(r.end_to_end.p999_us),
            ms(r.end_to_end.max_us),
            rpc.map_or("-".into(), |l| ms(l.p50_us)),
            rpc.map_or("-".into(), |l| ms(l.p99_us)),
            rpc.map_or("-".into(), |l| ms(l.p999_us)),
        );
    }
    if let Some(ratios) = &run.ratios {
        let _ = writeln!(
            out,
            "\nnative ÷ kafka, same run: produce throughput {:.2}x, consume throughput {:.2}x, end-to-end p99 {:.2}x",
            ratios.produce_throughput, ratios.consume_throughput, ratios.end_to_end_p99
        );
    }
    out
}

const COLORS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];

/// Grouped bars: one group per label, one bar per protocol.
fn bar_chart(title: &str, unit: &str, labels: &[&str], series: &[(String, Vec<f64>)]) -> String {
    let (width, height, left, bottom, top) = (640.0, 300.0, 70.0, 40.0, 30.0);
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let plot_h = height - bottom - top;
    let group_w = (width - left - 10.0) / labels.len().max(1) as f64;
    let bar_w = group_w * 0.8 / series.len().max(1) as f64;
    let mut svg = svg_with_grid(
        &format!("{title} ({unit})"),
        (width, height),
        (left, top, plot_h),
        max,
        2,
    );
    for (g, label) in labels.iter().enumerate() {
        let x0 = left + g as f64 * group_w + group_w * 0.1;
        for (s, (_, values)) in series.iter().enumerate() {
            let v = values.get(g).copied().unwrap_or(0.0);
            let h = plot_h * v / max;
            let _ = write!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="{h}" fill="{}"><title>{v:.3}</title></rect>"#,
                x0 + s as f64 * bar_w,
                top + plot_h - h,
                bar_w * 0.95,
                COLORS[s % COLORS.len()]
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{label}</text>"#,
            x0 + group_w * 0.4,
            height - bottom + 16.0
        );
    }
    svg.push_str(&legend(series.iter().map(|(n, _)| n.as_str()), width));
    svg.push_str("</svg>");
    svg
}

/// An open `<svg>` of `size` with `title` and five horizontal grid lines over the plot area
/// (`left`, `top`, `plot_h`), labelled from 0 to `max` with `precision` decimals.
fn svg_with_grid(
    title: &str,
    (width, height): (f64, f64),
    (left, top, plot_h): (f64, f64, f64),
    max: f64,
    precision: usize,
) -> String {
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><text x="{left}" y="18" font-weight="bold">{title}</text>"#
    );
    for tick in 0..=4 {
        let v = max * tick as f64 / 4.0;
        let y = top + plot_h - plot_h * tick as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.precision$}</text>"##,
            width - 10.0,
            left - 4.0,
            y + 4.0
        );
    }
    svg
}

fn legend<'a>(names: impl Iterator<Item = &'a str>, width: f64) -> String {
    let mut out = String::new();
    for (i, name) in names.enumerate() {
        let x = width - 150.0;
        let y = 14.0 + i as f64 * 16.0;
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{name}</text>"#,
            y - 9.0,
            COLORS[i % COLORS.len()],
            x + 14.0,
            y
        );
    }
    out
}

/// Lines of records acknowledged per second over time, one per protocol.
fn timeline_chart(results: &[ProtocolResult]) -> String {
    let (width, height, left, bottom, top) = (640.0, 300.0, 80.0, 40.0, 30.0);
    let per_sec = |b: u64| b as f64 * 10.0;
    let max_y = results
        .iter()
        .flat_map(|r| r.produce_timeline.iter().map(|b| per_sec(*b)))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let max_x = results
        .iter()
        .map(|r| r.produce_timeline.len())
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let plot_h = height - bottom - top;
    let plot_w = width - left - 10.0;
    let mut svg = svg_with_grid(
        "Produce throughput over time (records/s acknowledged, 100 ms buckets)",
        (width, height),
        (left, top, plot_h),
        max_y,
        0,
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds: 0 … {:.1}</text>"#,
        left + plot_w / 2.0,
        height - 10.0,
        max_x / 10.0
    );
    for (i, r) in results.iter().enumerate() {
        let points: Vec<String> = r
            .produce_timeline
            .iter()
            .enumerate()
            .map(|(x, b)| {
                format!(
                    "{:.1},{:.1}",
                    left + plot_w * x as f64 / (max_x - 1.0),
                    top + plot_h - plot_h * per_sec(*b) / max_y
                )
            })
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            COLORS[i % COLORS.len()],
            points.join(" ")
        );
    }
    svg.push_str(&legend(results.iter().map(|r| r.protocol.as_str()), width));
    svg.push_str("</svg>");
    svg
}

/// The charts of a run as standalone SVG documents, by file stem.
pub fn charts(run: &Run) -> Vec<(&'static str, String)> {
    let throughput = bar_chart(
        "Throughput",
        "thousand records/s",
        &["produce", "consume"],
        &run.results
            .iter()
            .map(|r| {
                (
                    r.protocol.clone(),
                    vec![
                        r.produce.records_per_sec / 1000.0,
                        r.consume.records_per_sec / 1000.0,
                    ],
                )
            })
            .collect::<Vec<_>>(),
    );
    let pct = |l: &crate::stats::Latency| {
        vec![
            l.p50_us as f64 / 1000.0,
            l.p99_us as f64 / 1000.0,
            l.p999_us as f64 / 1000.0,
        ]
    };
    let e2e = bar_chart(
        &format!("End-to-end latency at {} records/s", run.rate),
        "ms",
        &["p50", "p99", "p99.9"],
        &run.results
            .iter()
            .map(|r| (r.protocol.clone(), pct(&r.end_to_end)))
            .collect::<Vec<_>>(),
    );
    let acks = bar_chart(
        "Produce-ack latency, saturated producer",
        "ms",
        &["p50", "p99", "p99.9"],
        &run.results
            .iter()
            .map(|r| (r.protocol.clone(), pct(&r.produce_ack)))
            .collect::<Vec<_>>(),
    );
    let rpc = run
        .results
        .iter()
        .filter_map(|r| {
            r.rpc
                .as_ref()
                .map(|l| (format!("{} rpc", r.protocol), pct(l)))
        })
        .collect::<Vec<_>>();
    let rpc = if rpc.is_empty() {
        String::new()
    } else {
        bar_chart(
            &format!("Brokered RPC round trip at {} calls/s", run.rate),
            "ms",
            &["p50", "p99", "p99.9"],
            &rpc,
        )
    };
    let mut charts = vec![
        ("throughput", throughput),
        ("timeline", timeline_chart(&run.results)),
        ("end_to_end", e2e),
        ("produce_ack", acks),
    ];
    if !rpc.is_empty() {
        charts.push(("rpc", rpc));
    }
    charts
}

/// A self-contained HTML page: the table, then every chart.
pub fn html(run: &Run) -> String {
    let names: Vec<String> = run.results.iter().map(|r| r.protocol.clone()).collect();
    let table = table(run).replace('&', "&amp;").replace('<', "&lt;");
    let charts: String = charts(run).into_iter().map(|(_, svg)| svg).collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>neo-bench: {}</title></head>\
         <body style=\"font-family:sans-serif;max-width:1320px\"><h1>neo-bench: {}</h1><pre>{table}</pre>\
         <div>{charts}</div></body></html>",
        names.join(" vs "),
        names.join(" vs "),
    )
}
