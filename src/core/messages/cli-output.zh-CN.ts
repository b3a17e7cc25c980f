/** The same codes and placeholders as cli-output.en-US, in zh-CN. */
import type { cliOutputEnUS } from './cli-output.en-US';

export const cliOutputZhCN: Record<keyof typeof cliOutputEnUS, string> = {
  // 表头，各命令共用
  'cli.col.action': '操作',
  'cli.col.actor': '操作者',
  'cli.col.at': '时间',
  'cli.col.batches': '批次',
  'cli.col.bytes': '字节数',
  'cli.col.cached': '命中缓存',
  'cli.col.calls': '调用次数',
  'cli.col.changed': '已变更',
  'cli.col.checkpoint': '检查点',
  'cli.col.completion_tokens': '补全 token 数',
  'cli.col.cost': '费用',
  'cli.col.created': '创建时间',
  'cli.col.deleted': '已删除',
  'cli.col.detail': '详情',
  'cli.col.error': '错误',
  'cli.col.expires': '过期时间',
  'cli.col.export': '导出',
  'cli.col.exported': '已导出',
  'cli.col.failed': '失败',
  'cli.col.file': '文件',
  'cli.col.files': '文件数',
  'cli.col.folder': '目录',
  'cli.col.format': '格式',
  'cli.col.id': 'ID',
  'cli.col.key': '键',
  'cli.col.kind': '类型',
  'cli.col.model': '模型',
  'cli.col.moved_tenant': '租户已变更',
  'cli.col.name': '名称',
  'cli.col.new': '新增',
  'cli.col.prompt_tokens': '提示 token 数',
  'cli.col.quarantined': '已隔离',
  'cli.col.read': '已读取',
  'cli.col.records': '记录数',
  'cli.col.revoked': '撤销时间',
  'cli.col.rows': '行数',
  'cli.col.run': '运行',
  'cli.col.sha256': 'SHA-256 校验和',
  'cli.col.source': '数据源',
  'cli.col.staged': '已暂存',
  'cli.col.started': '开始时间',
  'cli.col.status': '状态',
  'cli.col.tenant': '租户',
  'cli.col.unchanged': '未变更',
  'cli.col.updated': '更新时间',
  'cli.col.why': '原因',
  // 单位
  'cli.unit.seconds': '{n} 秒',
  // 运行进度
  'cli.progress.source_done': '{source}：已读取 {rows} 行（{rate} 行/秒）',
  'cli.progress.source_reading': '{source}：{rows} 行，{rate} 行/秒',
  'cli.progress.exported': '已导出 {rows} 行',
  // 错误信息（`error CODE:` 前缀保持不变，供脚本识别）
  'cli.error.at': '位置：{where}',
  'cli.error.where_separator': '，',
  'cli.error.pipeline': '流水线 {pipeline}',
  'cli.error.source': '数据源 {source}',
  'cli.error.tenant': '租户 {tenant}',
  'cli.error.key': '键 {key}',
  'cli.error.run': '运行 {run}',
  'cli.error.hint': '提示：{hint}',
  'cli.error.caused_by': '原因：{cause}',
  'cli.exit.codes_help': `
退出码：
  0  成功
  1  运行失败（数据源、暂存库或导出出错）
  2  输入无效（用法错误、流水线文件有误或缺少环境变量）
  3  同一流水线的另一次运行持有其锁`,
  // sluice alerts export
  'cli.alerts.wrote': '已将 {count} 条规则写入 {file}',
  // sluice audit
  'cli.audit.empty': '审计日志中没有记录',
  // sluice exports
  'cli.exports.path_picked': '（显示 {path} 下的导出；可用 --path 改选其他导出路径：{paths}）',
  'cli.exports.none': '租户 {tenant} 没有导出',
  'cli.exports.latest': '{id}（最新）',
  'cli.exports.show.detail': '{kind}，运行 {run}，创建于 {created}{after}',
  'cli.exports.show.after': '，上一次导出为 {previous}',
  'cli.exports.diff.counts': '{source}：新增 {added}，变更 {changed}，删除 {removed}',
  'cli.exports.diff.more': '… 另有 {count} 个（使用 --json 可列出全部）',
  // sluice quarantine
  'cli.quarantine.empty': '没有被隔离或处理失败的记录',
  'cli.quarantine.retried': '已重试 {retried} 条：{passed} 条现已通过（将由下次运行导出），{stillHeld} 条仍被扣留',
  'cli.quarantine.released': '已放行 {count} 条记录中的 {released} 条：下次运行将按暂存时的原样导出',
  // sluice replay
  'cli.replay.replayed': '{pipeline}/{source}：已重放自 {since} 以来收到的 {rows} 条记录',
  // sluice run
  'cli.run.dry_run': '{pipeline}：试运行，未写入任何内容（暂存库：{staging}）',
  'cli.run.would_stage': '将为 {count} 个租户暂存：',
  'cli.run.nothing_to_stage': '没有需要暂存的内容',
  'cli.run.succeeded': '{pipeline}：运行 {run} 成功，用时 {duration}（暂存库：{staging}，内存峰值 {memory}）',
  'cli.run.no_new_exports': '没有新的导出：自上次导出以来没有变化',
  'cli.run.exported': '已向 {targets} 导出 {rows} 行，共 {count} 个租户导出：',
  // sluice secrets rotate
  'cli.secrets.resealed': '已用密钥 {key} 重新加密 {count} 条凭据',
  // sluice serve
  'cli.serve.listening': 'sluice serve 正在监听 {url}（{routes} 个 webhook 路由，{schedules} 个定时任务）',
  'cli.serve.stopping': '正在停止：等待进行中的投递和运行完成',
  'cli.serve.stopped': '已停止',
  'cli.serve.run': '{pipeline}/{source} 定时触发 {tick}：运行 {run} 读取 {read} 行，导出 {exported} 行，用时 {seconds} 秒',
  'cli.serve.run_failed': '{pipeline}/{source} 定时触发 {tick}：运行失败：{error}',
  'cli.serve.tick_skipped': '{pipeline}/{source} 定时触发 {tick}：已跳过：{reason}',
  // sluice status
  'cli.status.header': '{pipeline}（暂存库：{staging}）',
  'cli.status.staging_missing': '{url}（尚不存在）',
  'cli.status.checkpoints': '检查点：',
  'cli.status.last_runs': '最近的运行：',
  'cli.status.records': '各租户的暂存记录：',
  'cli.status.llm_usage': 'LLM 用量（所有运行）：',
  'cli.status.latest_exports': '最新导出：',
  'cli.status.none_yet': '暂无',
  // sluice tokens
  'cli.tokens.created': '令牌 {id}（{scope}）：请立即保存，它不会再次显示',
  'cli.tokens.scope_admin': '管理员',
  'cli.tokens.scope_tenant': '租户 {tenant}',
  'cli.tokens.none': '没有 API 令牌',
  'cli.tokens.admin_tenant': '（管理员）',
  'cli.tokens.revoked': '已撤销 {id}',
  // sluice validate
  'cli.validate.valid': '{file}：流水线 {pipeline} 有效（{sources} 个数据源，{exports} 个导出）',
};
