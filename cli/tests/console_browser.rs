//! The console in a real browser: three `zerodb start` processes, headless
//! Chromium (Debian's `chromium`) loads node 1's console and the test reads
//! what the page shows from the DOM Chromium dumps: three nodes on the
//! ring, node 3 marked DOWN after it is killed, and the rows of a zeroql
//! query run from the page. It also leaves the page open for ten virtual
//! minutes (a chart update every 2 s, no heap growth once the histories are
//! full) and times what loading the page fetches. A screenshot is kept as
//! `target/console/console.png`.
//!
//! Skips, saying so on standard error, only when no Chromium is installed
//! (`.ci/run` installs it, so CI always runs it). `ZERODB_CHROMIUM` names
//! another binary.

mod cluster_support;

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster_support::http::get;
use cluster_support::{wait_ready, Children, ClusterFiles, TempDir};

/// How long one Chromium run may take before the test gives up on it
/// (a run takes 2 to 7 s on a loaded two-core machine).
const CHROMIUM_RUN_MAX: Duration = Duration::from_secs(25);
/// Tries of the screenshot: a headless screenshot under a virtual time
/// budget was seen to hang once in about ten runs on a loaded machine; the
/// DOM checks above it are never retried.
const SCREENSHOT_TRIES: u32 = 2;
/// Virtual time Chromium gives the page to load, fetch and draw, ms (the
/// page polls every 2 s: this covers two rounds).
const PAGE_TIME_BUDGET_MS: u32 = 5_000;
/// Virtual time of the run that leaves the page open (ten minutes: 300
/// chart updates). Virtual time stands still while a fetch is pending, so
/// it takes seconds of real time.
const OPEN_TAB_BUDGET_MS: u32 = 600_000;
/// Real time that run may take.
const OPEN_TAB_RUN_MAX: Duration = Duration::from_secs(180);
/// Chart updates the open tab must have made in its ten minutes (one
/// every 2 s is 300).
const OPEN_TAB_POLLS_MIN: u64 = 290;
/// Growth of the tab's live JavaScript heap allowed from the moment the
/// chart histories are full to the end of the ten minutes.
const OPEN_TAB_HEAP_GROWTH_MAX: f64 = 1.10;
/// What loading the console may take on loopback: the page, its script
/// and style, and the first answers of the three APIs it draws from.
const PAGE_LOAD_MAX: Duration = Duration::from_secs(1);

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ZERODB_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// Written past the test harness's capture, so a skip is always seen.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Runs headless Chromium on `url` with `extra` flags and returns what it
/// printed (the DOM, for `--dump-dom`), or why it did not finish.
fn run_chromium(
    binary: &Path,
    profile: &Path,
    (budget_ms, run_max): (u32, Duration),
    extra: &[String],
    url: &str,
) -> Result<String, String> {
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(profile.with_extension("log")).unwrap())
        .spawn()
        .expect("chromium starts");
    // Read the DOM while Chromium writes it: a page larger than the pipe
    // (64 KiB) blocks Chromium until someone reads.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut dom = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut dom).map(|_| dom)
    });
    let deadline = Instant::now() + run_max;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(profile.with_extension("log")).unwrap_or_default();
            return Err(format!(
                "chromium did not finish {url} within {run_max:?}; it said:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    if !status.success() {
        return Err(format!("chromium failed on {url}: {status:?}"));
    }
    let dom = reader
        .join()
        .expect("reader thread")
        .map_err(|e| format!("reading chromium's output: {e}"))?;
    Ok(String::from_utf8_lossy(&dom).into_owned())
}

/// The member rows the page drew: `(node, health)` in table order.
fn member_rows(dom: &str) -> Vec<(u32, String)> {
    let table = dom
        .split("<table id=\"members\">")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_else(|| panic!("no members table in the page: {dom}"));
    table
        .split("<tr data-node=\"")
        .skip(1)
        .map(|row| {
            let (node, rest) = row.split_once('"').unwrap();
            let health = rest
                .split("data-health=\"")
                .nth(1)
                .and_then(|h| h.split('"').next())
                .unwrap_or("")
                .to_string();
            (node.parse().unwrap(), health)
        })
        .collect()
}

/// The number in `data-NAME="..."` on the page's `<body>`, if there.
fn body_figure(dom: &str, name: &str) -> Option<u64> {
    let body = dom.split("<body").nth(1)?.split('>').next()?;
    let value = body.split(&format!("data-{name}=\"")).nth(1)?;
    value.split('"').next()?.parse().ok()
}

/// The median time of fetching what the console needs to draw the ring:
/// the page, its script and style, and the first answer of each API.
fn page_load_time(console: SocketAddr) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for path in [
                "/",
                "/console.js",
                "/console.css",
                "/api/ring",
                "/api/metrics",
                "/api/namespaces",
            ] {
                let answer = get(console, path);
                assert_eq!(answer.status, 200, "{path}: {answer:?}");
            }
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// The markup of the chart of `metric` in a dumped DOM (up to the next
/// chart), or empty when there is none.
fn chart_html<'a>(dom: &'a str, metric: &str) -> &'a str {
    let marker = format!("data-metric=\"{metric}\"");
    let Some(start) = dom.find(&marker) else {
        return "";
    };
    let rest = &dom[start..];
    let end = rest[marker.len()..]
        .find("class=\"chart\"")
        .map_or(rest.len(), |at| at + marker.len());
    &rest[..end]
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until node 1's ring view shows `node` with `health`.
fn wait_health(console: SocketAddr, node: u32, health: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ring = get(console, "/api/ring").json();
        let now = ring["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|member| member["id"] == node)
            .map(|member| member["health"].as_str().unwrap().to_string());
        if now.as_deref() == Some(health) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {node} is still {now:?}, not {health}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_ring_a_down_node_and_query_rows_in_a_browser() {
    let Some(browser) = chromium() else {
        say("SKIPPED the console browser test: no chromium (apt-get install chromium; .ci/run does)");
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new("console-browser");
    let files = ClusterFiles::new(&dir.0, 3);
    let ports: Vec<u16> = (0..3).map(|_| free_tcp_port()).collect();
    for id in 1..=3u32 {
        let path = dir.0.join(format!("n{id}.toml"));
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push_str(&format!(
            "\n[metrics]\naddress = \"127.0.0.1:{}\"\n",
            ports[id as usize - 1]
        ));
        std::fs::write(&path, config).unwrap();
    }
    let mut nodes = Children((1..=3).map(|id| files.spawn(id)).collect());
    wait_ready(&files, &[1, 2, 3]).await;
    let console: SocketAddr = ([127, 0, 0, 1], ports[0]).into();
    let base = format!("http://{console}/");
    // A fresh profile per run: a profile still locked by the previous
    // run's last processes would hand the page to them.
    let runs = std::sync::atomic::AtomicU32::new(0);
    let page_for = |time: (u32, Duration), extra: &[&str], url: String| {
        let extra: Vec<String> = extra.iter().map(|flag| flag.to_string()).collect();
        let run = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = dir.0.join(format!("chromium-profile-{run}"));
        let browser = browser.clone();
        tokio::task::spawn_blocking(move || run_chromium(&browser, &profile, time, &extra, &url))
    };
    let page =
        |extra: &[&str], url: String| page_for((PAGE_TIME_BUDGET_MS, CHROMIUM_RUN_MAX), extra, url);
    for node in 1..=3 {
        tokio::task::spawn_blocking(move || wait_health(console, node, "up"))
            .await
            .unwrap();
    }
    say(&format!(
        "console browser test: cluster up after {:?}",
        started.elapsed()
    ));

    // The ring shows three nodes, all up.
    let dom = page(&["--dump-dom"], base.clone()).await.unwrap().unwrap();
    let rows = member_rows(&dom);
    assert_eq!(
        rows,
        [(1, "up".into()), (2, "up".into()), (3, "up".into())],
        "{dom}"
    );
    assert_eq!(dom.matches("class=\"health-mark\"").count(), 3);
    assert!(dom.contains("3 of 3 nodes up"), "{dom}");

    // Loading: what the page needs before it can draw the ring.
    let load = tokio::task::spawn_blocking(move || page_load_time(console))
        .await
        .unwrap();
    say(&format!(
        "console browser test: page, assets and first API answers in {load:?} (median of 5)"
    ));
    assert!(load < PAGE_LOAD_MAX, "loading the console took {load:?}");

    // The tab left open for ten (virtual) minutes: a chart update every
    // 2 s, and a heap that stops growing once the histories are full.
    let flags = [
        "--dump-dom",
        "--enable-precise-memory-info",
        "--js-flags=--expose-gc",
    ];
    let open = Instant::now();
    let time = (OPEN_TAB_BUDGET_MS, OPEN_TAB_RUN_MAX);
    let dom = page_for(time, &flags, base.clone()).await.unwrap().unwrap();
    let polls = body_figure(&dom, "polls").unwrap_or(0);
    let figure = |name| {
        body_figure(&dom, name).unwrap_or_else(|| panic!("no data-{name} on the page: {dom}"))
    };
    let (full, now) = (figure("heap-full"), figure("heap-now"));
    let (elements_full, elements_now) = (figure("elements-full"), figure("elements-now"));
    say(&format!(
        "console browser test: open tab, {polls} chart updates in 10 virtual minutes \
         ({:?} real); when the histories filled and at the end: live heap {full} and \
         {now} bytes, {elements_full} and {elements_now} elements",
        open.elapsed()
    ));
    assert!(polls >= OPEN_TAB_POLLS_MIN, "{polls} chart updates");
    assert!(
        elements_now <= elements_full,
        "the page grew from {elements_full} to {elements_now} elements after its histories were full"
    );
    assert!(
        now as f64 <= full as f64 * OPEN_TAB_HEAP_GROWTH_MAX,
        "the tab's heap grew from {full} to {now} bytes after its histories were full"
    );

    // A traversal's results drawn as a graph (the Graph tab): the row's
    // record linked to the record its traversal reached.
    let query = "DEFINE EDGE knows; CREATE person:grace; CREATE person:alan; \
                 RELATE person:grace -> knows -> person:alan; \
                 SELECT id, ->knows->person AS knows FROM person:grace";
    let url = format!("{base}?q={}", percent_encode(query));
    let dom = page(&["--dump-dom"], url).await.unwrap().unwrap();
    assert!(dom.contains("class=\"ok\">ok: 5 results"), "{dom}");
    for vertex in ["person:grace", "person:alan"] {
        assert!(dom.contains(&format!("data-id=\"{vertex}\"")), "{dom}");
    }
    assert!(
        dom.contains("data-from=\"person:grace\" data-to=\"person:alan\""),
        "{dom}"
    );
    assert!(dom.contains("2 records, 1 links"), "{dom}");

    // Node 3 stops: the page marks it DOWN.
    let mut third = nodes.0.remove(2);
    third.kill().unwrap();
    third.wait().unwrap();
    tokio::task::spawn_blocking(move || wait_health(console, 3, "down"))
        .await
        .unwrap();
    let dom = page(&["--dump-dom"], base.clone()).await.unwrap().unwrap();
    let rows = member_rows(&dom);
    assert_eq!(rows[2], (3, "down".into()), "{dom}");
    assert!(dom.contains(">DOWN<"), "{dom}");
    assert!(dom.contains("2 of 3 nodes up"), "{dom}");
    say(&format!(
        "console browser test: node 3 shown down after {:?}",
        started.elapsed()
    ));

    // A zeroql query typed into the page (through ?q=) and its rows.
    let query =
        "CREATE person:ada SET name = 'Ada Lovelace', born = 1815; SELECT name, born FROM person";
    let url = format!("{base}?q={}", percent_encode(query));
    let dom = page(&["--dump-dom"], url).await.unwrap().unwrap();
    say(&format!(
        "console browser test: query rows read after {:?}",
        started.elapsed()
    ));
    assert!(
        dom.contains("<th>born</th><th>name</th></tr></thead><tbody><tr><td>1815</td><td>Ada Lovelace</td></tr>"),
        "no result row in the page: {dom}"
    );
    assert!(dom.contains("class=\"ok\">ok: 2 results"), "{dom}");
    // Latency over time: node 1 answered the page's query, so its p99
    // chart has a line and a value above zero.
    let chart = chart_html(&dom, "recent_p99_us");
    assert!(chart.contains("data-node=\"1\""), "{chart}");
    let now = chart
        .split("highest now ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse::<f64>().ok());
    assert!(now.is_some_and(|ms| ms > 0.0), "{chart}");

    // A screenshot of the whole console, kept under target/.
    let shots = Path::new(env!("CARGO_BIN_EXE_zerodb"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("console");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("console.png");
    let _ = std::fs::remove_file(&shot);
    let flag = format!("--screenshot={}", shot.display());
    let url = format!(
        "{base}?q={}&key=1",
        percent_encode("SELECT name, born FROM person")
    );
    for tried in 1..=SCREENSHOT_TRIES {
        match page(&[&flag, "--window-size=1280,1000"], url.clone())
            .await
            .unwrap()
        {
            Ok(_) => break,
            Err(error) if tried < SCREENSHOT_TRIES => say(&format!("screenshot again: {error}")),
            Err(error) => panic!("{error}"),
        }
    }
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} is {size} bytes",
        shot.display()
    );
    say(&format!(
        "console browser test: passed in {:?}; screenshot {}",
        started.elapsed(),
        shot.display()
    ));
}
