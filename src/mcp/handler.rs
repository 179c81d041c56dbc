//! The MCP face of stagecraft: tools come from the skill registry, calls go to the dispatcher.

// MCP logging is deprecated by 2026-07-28 (SEP-2577), but clients of the 2025-11-25 era, which is
// what Claude Desktop and Claude Code speak, still show server logs through it.
#![allow(deprecated)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
    CompleteResult, CompletionInfo, ContentBlock, CustomRequest, CustomResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, GetSkillRequestParams,
    GetSkillResult, Implementation, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListSkillsResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, Prompt, PromptArgument, PromptMessage,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Reference, Resource,
    ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, Skill, SkillFrontmatter, SkillResource, SkillResources,
    SubscriptionFilter, Tool, ToolAnnotations,
};
use rmcp::service::{
    NotificationContext, Peer, RequestContext, SubscriptionContext, SubscriptionSendError,
    SubscriptionSink,
};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::progress::McpProgress;
use crate::call::{CallContext, Progress};
use crate::dispatch::{CANCEL_GRACE, Dispatcher, ToolError, ToolErrorCode};
use crate::skills::{Binding, SharedRegistry, ToolSpec};

/// Numbers the tool calls of this process for the log (`tool_call{call_id=…}`).
static NEXT_CALL_ID: AtomicU64 = AtomicU64::new(1);

/// Extra time past a tool's own deadline before the server gives up on the binding itself:
/// bindings enforce their deadlines and report precisely; this is the backstop.
const DEADLINE_GRACE: Duration = Duration::from_secs(5);

/// How long a 2026-07-28 client may reuse a listing that comes from the skill registry or the
/// binary (tools, prompts, resource templates, skills, skill and app resources) before asking again
/// (SEP-2549 `ttlMs`; docs/architecture.md#caching). Short, because hot reload changes the tool list
/// when a SKILL.md is edited; a client that listens for list_changed drops its copy sooner. Takes
/// come and go with every generation, so the resource list and take reads say 0 (ask every time).
const LISTING_TTL_MS: u64 = 10_000;
/// The listings belong to the user who runs this server: no cache shared between users holds them.
const CACHE_SCOPE: CacheScope = CacheScope::Private;

/// How much longer than the dispatcher's own CANCEL_GRACE the backstop waits for a cancelled call
/// to return, so that the dispatcher, not this wait, ends it.
const CLEANUP_MARGIN: Duration = Duration::from_millis(500);

const INSTRUCTIONS: &str = "stagecraft generates character motion from text with motion models \
and puts it on rigs in a DCC (Blender, or the built-in `stage` glTF scene). Start with list_dccs \
and list_motion_models; animate with generate_motion (pass `armature` to apply it), look with \
preview_motion or capture_viewport, and save with save_file or save_motion. Every tool's skill \
body is a resource skill://<skill>/SKILL.md with workflows and error codes.";

/// The MCP server. Cheap to clone: the HTTP transport makes one per session or request.
#[derive(Clone)]
pub struct StagecraftServer {
    inner: Arc<Inner>,
}

struct Inner {
    registry: SharedRegistry,
    dispatcher: Arc<Dispatcher>,
    /// Legacy-era clients (initialize): notified with `notifications/tools/list_changed`.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// 2026-07-28 clients: notified on their `subscriptions/listen` streams. Each is keyed by a
    /// number of ours: the sink's own id is the client's JSON-RPC request id, which another
    /// connection may use as well.
    sinks: Mutex<Vec<(u64, SubscriptionSink)>>,
    next_sink: AtomicU64,
    /// Legacy `logging/setLevel`: the least severe level the client wants (None: no log messages).
    log_level: Mutex<Option<LoggingLevel>>,
}

impl Inner {
    /// Tells every connected client that the resource list (and, with `tools`, the tool list)
    /// changed; clients that went away are forgotten. The sends are awaited without the locks held,
    /// so a client may connect or subscribe meanwhile: only the clients found gone are removed
    /// afterwards (by id), never the whole list replaced by the one the broadcast started with.
    async fn broadcast_list_changed(&self, tools: bool) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = lock(&self.peers);
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            if tools {
                let _ = peer.notify_tool_list_changed().await;
            }
            let _ = peer.notify_resource_list_changed().await;
        }
        let sinks: Vec<(u64, SubscriptionSink)> = lock(&self.sinks).clone();
        let mut gone = Vec::new();
        for (key, sink) in sinks {
            let mut results = Vec::new();
            if tools {
                results.push(sink.notify_tool_list_changed().await);
            }
            results.push(sink.notify_resource_list_changed().await);
            // A kind the client did not subscribe to is refused per sink; only a closed stream
            // (or a broken transport) means the subscription is gone.
            if results.iter().any(|r| {
                matches!(
                    r,
                    Err(SubscriptionSendError::SubscriptionClosed
                        | SubscriptionSendError::Service(_))
                )
            }) {
                gone.push(key);
            }
        }
        if !gone.is_empty() {
            lock(&self.sinks).retain(|(key, _)| !gone.contains(key));
        }
    }
}

impl StagecraftServer {
    pub fn new(registry: SharedRegistry, dispatcher: Arc<Dispatcher>) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                dispatcher,
                peers: Mutex::new(Vec::new()),
                sinks: Mutex::new(Vec::new()),
                next_sink: AtomicU64::new(0),
                log_level: Mutex::new(None),
            }),
        }
    }

    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.inner.dispatcher
    }

    /// Forwards registry changes to every connected client until `shutdown`.
    pub fn spawn_change_notifier(
        &self,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let mut changes = self.inner.registry.subscribe();
        let inner = self.inner.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = changes.changed() => if changed.is_err() { return },
                }
                inner.broadcast_list_changed(true).await;
            }
        })
    }

    fn tool_definition(spec: &ToolSpec) -> Tool {
        let mut tool = Tool::new(
            spec.name.clone(),
            spec.description.clone(),
            spec.input_schema.clone(),
        )
        .with_annotations(
            ToolAnnotations::new()
                .read_only(spec.read_only)
                .destructive(spec.destructive)
                .idempotent(spec.idempotent)
                .open_world(spec.open_world),
        );
        if let Some(title) = &spec.title {
            tool = tool.with_title(title.clone());
        }
        if let Some(schema) = &spec.output_schema {
            tool = tool.with_raw_output_schema(schema.clone());
        }
        // Declared to every client: one without MCP Apps ignores `_meta` and shows the result's
        // content (text, the preview image) as before. Only views served here are announced: a
        // host would fail to load any other.
        if let Some(uri) = &spec.ui_resource
            && super::apps::find(uri).is_some()
        {
            tool = tool.with_meta(super::apps::tool_meta(uri));
        }
        tool
    }

    /// Sends a log message to the client that asked for them: legacy clients through
    /// `logging/setLevel`, 2026-07-28 clients through the request's `logLevel` meta.
    async fn log_to_client(
        &self,
        ctx: &RequestContext<RoleServer>,
        level: LoggingLevel,
        data: Value,
    ) {
        let wanted = ctx.meta.log_level().or(*lock(&self.inner.log_level));
        let Some(wanted) = wanted else { return };
        if severity(level) < severity(wanted) {
            return;
        }
        let _ = ctx
            .peer
            .notify_logging_message(
                LoggingMessageNotificationParam::new(level, data).with_logger("stagecraft"),
            )
            .await;
    }

    async fn run_tool(
        &self,
        spec: Arc<ToolSpec>,
        mut args: Value,
        ctx: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        spec.apply_defaults(&mut args);
        if let Err(errors) = spec.validate(&args) {
            let first = &errors[0];
            let field = display_field(&first.field);
            let message = if errors.len() == 1 {
                format!("invalid argument {field}: {}", first.message)
            } else {
                format!(
                    "{} invalid arguments; first: {field}: {}",
                    errors.len(),
                    first.message
                )
            };
            let details: Vec<Value> = errors
                .iter()
                .map(|e| json!({"field": display_field(&e.field), "message": e.message}))
                .collect();
            return error_result(
                &ToolError::new(ToolErrorCode::InvalidArguments, message)
                    .with_hint(format!(
                        "Fix the named field(s) and call {} again; its input schema is in tools/list.",
                        spec.name
                    ))
                    .with_details(json!({"errors": details})),
            );
        }

        self.log_to_client(
            ctx,
            LoggingLevel::Debug,
            json!({"event": "tool_call", "tool": spec.name, "skill": spec.skill}),
        )
        .await;
        let timeout = self.inner.dispatcher.deadline(&spec, &args);
        // A child of the request's token: the client's cancellation reaches the binding, and the
        // backstop below can cancel this call alone.
        let mut call = CallContext::new(timeout).with_cancel(ctx.ct.child_token());
        let (reporter, sender) = match ctx.meta.get_progress_token() {
            Some(token) => {
                let (reporter, task) = McpProgress::start(ctx.peer.clone(), token);
                let reporter = Arc::new(reporter);
                let sink = reporter.clone();
                call.progress =
                    Progress::new(move |p, total, message| sink.report(p, total, message));
                (Some(reporter), Some(task))
            }
            None => (None, None),
        };

        let mut work = std::pin::pin!(self.inner.dispatcher.call(&spec, args, &call));
        let outcome = tokio::select! {
            result = &mut work => Ok(result),
            _ = tokio::time::sleep_until(call.backstop(DEADLINE_GRACE)) => {
                // Dropping the call here would skip its cleanup: the DCC would get no `$/cancel`
                // and the bridge would keep the request pending until the connection closes.
                // Cancel it instead and give the dispatcher its CANCEL_GRACE to clean up
                // (docs/bridge-protocol.md#deadlines-cancellation-and-failures).
                call.cancel.cancel();
                let _ = tokio::time::timeout(CANCEL_GRACE + CLEANUP_MARGIN, &mut work).await;
                Err(())
            }
        };

        // Progress must not follow the response: close the queue and let it drain first.
        if let Some(reporter) = reporter {
            reporter.close();
        }
        if let Some(task) = sender {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }

        match outcome {
            Ok(Ok(output)) => {
                // A new take is a new resource (take://<id>).
                if matches!(&spec.binding, Binding::Call(m) if m == "motion.generate") {
                    self.inner.broadcast_list_changed(false).await;
                }
                let mut result = CallToolResult::structured(output.structured);
                for image in output.images {
                    result
                        .content
                        .push(ContentBlock::image(image.data_b64, image.mime_type));
                }
                result
            }
            Ok(Err(error)) => {
                self.log_to_client(
                    ctx,
                    LoggingLevel::Warning,
                    json!({"event": "tool_failed", "tool": spec.name, "error": error.to_json()}),
                )
                .await;
                error_result(&error)
            }
            Err(_) => error_result(
                &ToolError::new(
                    ToolErrorCode::Timeout,
                    format!("{} did not finish within {} s", spec.name, timeout.as_secs()),
                )
                .with_hint("The DCC or backend is busy or stuck; try again, or raise timeout_seconds in the tool's SKILL.md."),
            ),
        }
    }
}

/// Orders MCP log levels from least to most severe.
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// `/translate/2` -> `translate[2]`; the whole object -> `arguments`.
fn display_field(pointer: &str) -> String {
    if pointer.is_empty() {
        return "arguments".into();
    }
    let mut out = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        if part.chars().all(|c| c.is_ascii_digit()) && !out.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

fn error_result(error: &ToolError) -> CallToolResult {
    let mut result = CallToolResult::structured_error(error.to_json());
    // Clients that show only text get a readable line first.
    let mut text = format!("{}: {}", error.code, error.message);
    if let Some(hint) = &error.hint {
        text.push_str(&format!("\nhint: {hint}"));
    }
    result.content.insert(0, ContentBlock::text(text));
    result
}

fn prompts() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "animate_rig",
            Some("Generate motion from a description and put it on a rig, then show it."),
            Some(vec![
                PromptArgument::new("motion")
                    .with_description("What the character does, e.g. 'walks forward and waves'")
                    .with_required(true),
                PromptArgument::new("armature")
                    .with_description("The armature to animate (default: the first one found)")
                    .with_required(false),
                PromptArgument::new("seconds")
                    .with_description("Length in seconds (default 4)")
                    .with_required(false),
            ]),
        ),
        Prompt::new(
            "inspect_scene",
            Some("Summarise the open scene: objects, hierarchy, armatures and frame range."),
            None,
        ),
    ]
}

/// Suggestions for the `animate_rig` prompt's arguments (MCP `completion/complete`): what the
/// built-in model understands, so a user picking the prompt from a client menu starts from words
/// that work. Other prompts and arguments have nothing to suggest.
const MOTION_SUGGESTIONS: &[&str] = &[
    "walks forward",
    "walks forward and waves",
    "runs then jumps",
    "jogs in place",
    "idles and looks around",
    "sits down",
    "stands up",
    "crouches",
    "turns left",
    "waves",
];
const SECONDS_SUGGESTIONS: &[&str] = &["2", "4", "6", "8", "10"];

fn prompt_completions(prompt: &str, argument: &str, typed: &str) -> Vec<String> {
    let candidates = match (prompt, argument) {
        ("animate_rig", "motion") => MOTION_SUGGESTIONS,
        ("animate_rig", "seconds") => SECONDS_SUGGESTIONS,
        _ => &[],
    };
    let typed = typed.to_lowercase();
    candidates
        .iter()
        .filter(|c| c.starts_with(&typed))
        .map(|c| c.to_string())
        .collect()
}

fn prompt_text(name: &str, args: &serde_json::Map<String, Value>) -> Option<String> {
    let arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    match name {
        "animate_rig" => {
            let motion = arg("motion").unwrap_or_else(|| "walks forward".into());
            let seconds = arg("seconds").unwrap_or_else(|| "4".into());
            let armature = match arg("armature") {
                Some(a) => format!("the armature `{a}`"),
                None => "the first armature that list_armatures returns".into(),
            };
            Some(format!(
                "Animate {armature} so that the character {motion}, for {seconds} seconds.\n\
                 1. Call list_dccs and list_armatures to find the rig; call list_motion_models to pick a model.\n\
                 2. Call generate_motion with prompt, seconds and armature.\n\
                 3. Call preview_motion on the take and capture_viewport to check the result; report joints skipped.\n\
                 4. If it looks wrong, try another seed or sample (apply_motion with `sample`).\n\
                 5. Ask before saving the scene with save_file."
            ))
        }
        "inspect_scene" => Some(
            "Describe the open scene: call get_scene_info, get_hierarchy, list_armatures and \
             get_frame_range, then summarise what is there in a few lines."
                .into(),
        ),
        _ => None,
    }
}

impl ServerHandler for StagecraftServer {
    /// Only the stand-in for a stdio request over the size limit (see `stdio.rs`) is known here.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        if request.method == super::stdio::OVERSIZED_METHOD {
            return Err(McpError::new(
                ErrorCode::INVALID_REQUEST,
                format!(
                    "request refused: larger than {} MiB",
                    super::MAX_REQUEST_BYTES / (1024 * 1024)
                ),
                request.params,
            ));
        }
        Err(McpError::new(
            ErrorCode::METHOD_NOT_FOUND,
            request.method,
            None,
        ))
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_prompts()
                .enable_completions()
                .enable_logging()
                .enable_skills()
                .build(),
        )
        .with_server_info(
            Implementation::new("stagecraft", env!("CARGO_PKG_VERSION"))
                .with_title("stagecraft: motion and DCC scenes for agents"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let values = match &request.r#ref {
            Reference::Prompt(prompt) => prompt_completions(
                &prompt.name,
                &request.argument.name,
                &request.argument.value,
            ),
            // Resource templates (take://{id}) and references newer than this server: nothing to
            // suggest, which the protocol allows.
            _ => Vec::new(),
        };
        let completion = CompletionInfo::with_all_values(values)
            .map_err(|message| McpError::internal_error(message, None))?;
        Ok(CompleteResult::new(completion))
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        *lock(&self.inner.log_level) = Some(request.level);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut peers = lock(&self.inner.peers);
        // Sessions that ended are dropped here too, not only when the skills change: otherwise a
        // long-running HTTP server keeps every session it ever had.
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer.clone());
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let ours = SubscriptionFilter::builder()
            .tools_list_changed()
            .resources_list_changed()
            .build();
        Some(requested.intersection(&ours))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let key = self.inner.next_sink.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.sinks).push((key, context.sink().clone()));
        context.cancelled().await;
        lock(&self.inner.sinks).retain(|(k, _)| *k != key);
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let registry = self.inner.registry.get();
        let tools = registry
            .tools
            .values()
            .map(|t| Self::tool_definition(t))
            .collect();
        Ok(ListToolsResult::with_all_items(tools)
            .with_ttl_ms(LISTING_TTL_MS)
            .with_cache_scope(CACHE_SCOPE))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner
            .registry
            .get()
            .tools
            .get(name)
            .map(|t| Self::tool_definition(t))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let registry = self.inner.registry.get();
        let name = request.name.as_ref();
        let Some(spec) = registry.tools.get(name).cloned() else {
            if registry.hidden.contains_key(name) {
                return Ok(error_result(
                    &ToolError::new(
                        ToolErrorCode::ScriptsDisabled,
                        format!("{name} runs code inside the DCC and scripts are disabled"),
                    )
                    .with_hint("Ask the user to set `allow_scripts = true` under [skills] in stagecraft.toml if they trust this agent with scripts."),
                )
                .into());
            }
            return Err(McpError::invalid_params(
                format!("unknown tool: {name}"),
                Some(json!({"available": registry.tools.keys().collect::<Vec<_>>()})),
            ));
        };
        drop(registry);
        let args = Value::Object(request.arguments.unwrap_or_default());
        // One span per call, so that one call can be followed through the log: what the
        // dispatcher, the motion client and the bridge log inside it carries these fields.
        let call_id = NEXT_CALL_ID.fetch_add(1, Ordering::Relaxed);
        let dcc = args.get("dcc").and_then(Value::as_str).unwrap_or("default");
        let span = tracing::info_span!("tool_call", call_id, tool = %spec.name, dcc = %dcc);
        async move {
            let started = std::time::Instant::now();
            let result = self.run_tool(spec, args, &context).await;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                is_error = result.is_error.unwrap_or(false),
                "tool call finished"
            );
            Ok(result.into())
        }
        .instrument(span)
        .await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let registry = self.inner.registry.get();
        let mut resources: Vec<Resource> = registry
            .skills
            .values()
            .map(|s| {
                Resource::new(s.uri.clone(), s.name.clone())
                    .with_description(s.description.clone())
                    .with_mime_type("text/markdown")
                    .with_size(s.text.len() as u64)
            })
            .collect();
        resources.extend(super::apps::resources());
        let motion = &self.inner.dispatcher.motion;
        for id in motion.list_takes() {
            let description = motion
                .read_take(&id)
                .map(|t| {
                    format!(
                        "Motion take: model {}, {} frames at {} fps, {} sample(s)",
                        t["model"].as_str().unwrap_or("?"),
                        t["frames"],
                        t["fps"],
                        t["samples"]
                    )
                })
                .unwrap_or_else(|| "Motion take".into());
            resources.push(
                Resource::new(format!("take://{id}"), id)
                    .with_description(description)
                    .with_mime_type("application/json"),
            );
        }
        Ok(ListResourcesResult::with_all_items(resources)
            .with_ttl_ms(0)
            .with_cache_scope(CACHE_SCOPE))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("skill://{name}/SKILL.md", "skill")
                .with_description("A loaded skill's SKILL.md: how and when to use its tools")
                .with_mime_type("text/markdown"),
            ResourceTemplate::new("take://{take_id}", "take")
                .with_description(
                    "A generated motion take: model, fps, frames, joints, samples, notes",
                )
                .with_mime_type("application/json"),
            ResourceTemplate::new("take://{take_id}/positions/{sample}", "take-positions")
                .with_description(
                    "One sample of a take as world joint positions per frame (mm), for the take viewer",
                )
                .with_mime_type("application/json"),
        ])
        .with_ttl_ms(LISTING_TTL_MS)
        .with_cache_scope(CACHE_SCOPE))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        if let Some(rest) = uri.strip_prefix("skill://") {
            let registry = self.inner.registry.get();
            let name = rest.strip_suffix("/SKILL.md").unwrap_or(rest);
            if let Some(skill) = registry.skills.get(name) {
                return Ok(ReadResourceResult::new(vec![
                    ResourceContents::text(skill.text.clone(), skill.uri.clone())
                        .with_mime_type("text/markdown"),
                ])
                .with_ttl_ms(LISTING_TTL_MS)
                .with_cache_scope(CACHE_SCOPE)
                .into());
            }
        } else if let Some(app) = super::apps::find(uri) {
            return Ok(super::apps::read(app)
                .with_ttl_ms(LISTING_TTL_MS)
                .with_cache_scope(CACHE_SCOPE)
                .into());
        } else if let Some((id, sample)) = super::apps::parse_positions_uri(uri)
            && let Some(positions) = self.inner.dispatcher.motion.take_positions(id, sample)
        {
            return match positions {
                Ok(data) => Ok(ReadResourceResult::new(vec![
                    ResourceContents::text(data.to_string(), uri.to_string())
                        .with_mime_type("application/json"),
                ])
                .with_ttl_ms(0)
                .with_cache_scope(CACHE_SCOPE)
                .into()),
                Err(e) => Err(McpError::invalid_params(
                    e.to_string(),
                    Some(json!({"uri": uri})),
                )),
            };
        } else if let Some(id) = uri.strip_prefix("take://")
            && let Some(summary) = self.inner.dispatcher.motion.read_take(id)
        {
            return Ok(ReadResourceResult::new(vec![
                ResourceContents::text(summary.to_string(), uri.to_string())
                    .with_mime_type("application/json"),
            ])
            .with_ttl_ms(0)
            .with_cache_scope(CACHE_SCOPE)
            .into());
        }
        Err(McpError::resource_not_found(
            format!("no resource at {uri}"),
            Some(json!({"uri": uri})),
        ))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(prompts())
            .with_ttl_ms(LISTING_TTL_MS)
            .with_cache_scope(CACHE_SCOPE))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        let Some(text) = prompt_text(&request.name, &args) else {
            return Err(McpError::invalid_params(
                format!("unknown prompt: {}", request.name),
                None,
            ));
        };
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
    }

    async fn list_skills(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, McpError> {
        let registry = self.inner.registry.get();
        Ok(
            ListSkillsResult::with_all_items(registry.skills.values().map(skill_entry).collect())
                .with_ttl_ms(LISTING_TTL_MS)
                .with_cache_scope(CACHE_SCOPE),
        )
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, McpError> {
        let registry = self.inner.registry.get();
        match registry.skills.values().find(|s| s.uri == request.uri) {
            Some(skill) => Ok(GetSkillResult::new(skill_entry(skill))),
            None => Err(McpError::invalid_params(
                format!("no skill at {}", request.uri),
                None,
            )),
        }
    }
}

fn skill_entry(skill: &crate::skills::Skill) -> Skill {
    let mut front = SkillFrontmatter::new(skill.name.clone(), skill.description.clone());
    for (key, value) in &skill.frontmatter {
        if key != "name" && key != "description" {
            front = front.with_field(key.clone(), value.clone());
        }
    }
    Skill::new(
        skill.uri.clone(),
        front,
        SkillResources::Files(vec![SkillResource::from_bytes(
            skill.uri.clone(),
            skill.text.as_bytes(),
        )]),
    )
}
