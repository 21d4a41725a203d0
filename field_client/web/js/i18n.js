// Every string the app shows, Chinese first. Field labels, choices and validation
// messages come from the schema export; these are the app's own words.

const STRINGS = {
  app_title: ["志愿服务记录", "Field records"],
  opening: ["正在打开…", "Opening…"],
  language: ["English", "中文"],
  sign_in: ["登录", "Sign in"],
  sign_in_and_sync: ["登录并同步", "Sign in and sync"],
  sign_in_title: ["用账号登录（需要网络）", "Sign in with your account (needs a connection)"],
  username: ["用户名", "Username"],
  password: ["密码", "Password"],
  pin: ["PIN 码", "PIN"],
  pin_or_password: ["PIN 码或密码", "PIN or password"],
  unlock: ["解锁", "Unlock"],
  unlock_title: ["选择你的账号并解锁", "Choose your account and unlock"],
  other_account: ["其他志愿者登录", "Another volunteer signs in"],
  sign_in_offline: [
    "没有网络：首次登录需要网络。已在本平板登录过的志愿者可以离线解锁。",
    "No connection: the first sign-in needs one. Volunteers who signed in on this tablet before can unlock offline.",
  ],
  sign_in_failed: ["用户名或密码不正确。", "Wrong username or password."],
  sign_in_throttled: ["尝试次数过多，请稍后再试。", "Too many attempts; try again later."],
  unlock_failed: ["PIN 码或密码不正确。", "Wrong PIN or password."],
  pin_locked: [
    "PIN 码错误次数过多，请用密码解锁。",
    "Too many wrong PINs: unlock with your password.",
  ],
  set_pin: ["设置 PIN 码", "Set a PIN"],
  pin_hint: ["4 到 8 位数字，用于在本平板上快速解锁。", "4 to 8 digits, to unlock quickly on this tablet."],
  pin_invalid: ["PIN 码须为 4 到 8 位数字。", "A PIN is 4 to 8 digits."],
  pin_saved: ["PIN 码已设置。", "PIN set."],
  lock: ["锁定", "Lock"],
  sign_out: ["退出并锁定", "Sign out and lock"],
  settings: ["设置", "Settings"],
  back: ["返回", "Back"],
  new_record: ["新建记录", "New record"],
  my_records: ["我的记录", "My records"],
  no_records: ["还没有记录。", "No records yet."],
  more: ["显示更多", "Show more"],
  downloading: ["正在下载本地区的数据…", "Downloading your area's data…"],
  first_sync_needed: [
    "请先连上网络同步一次，下载队伍名单和农户信息后才能记录。",
    "Connect and sync once first: the team roster and households are needed to record.",
  ],
  // Record states (field_client/README.md).
  state_draft: ["草稿", "Draft"],
  state_saved: ["已保存在本机", "Saved on this tablet"],
  state_sent: ["已发送", "Sent"],
  state_refused: ["被服务器退回", "Refused by the server"],
  state_returned: ["审核退回", "Returned by a reviewer"],
  state_approved: ["已通过审核", "Approved"],
  unsent_count: ["{n} 条记录尚未发送", "{n} record(s) not sent yet"],
  refused_count: ["{n} 条记录被退回，请修改后重新发送", "{n} record(s) refused: correct and resend"],
  all_sent: ["所有记录都已发送", "Every record is sent"],
  last_sync: ["上次同步：{when}", "Last sync: {when}"],
  never_synced: ["尚未同步", "Never synced"],
  // Forms.
  save: ["保存", "Save"],
  saved_ok: ["已保存在本平板。有网络时会自动发送。", "Saved on this tablet. It will be sent when there is a connection."],
  save_failed_check: [
    "有 {n} 处需要修改，已填写的内容都保留着。",
    "{n} thing(s) to correct; everything you typed is kept.",
  ],
  draft_kept: ["草稿已自动保存", "Draft saved automatically"],
  discard_draft: ["删除草稿", "Delete draft"],
  discard_confirm: ["确定删除这份草稿？", "Delete this draft?"],
  add_item: ["添加", "Add"],
  remove_item: ["删除", "Remove"],
  choose: ["请选择", "Choose"],
  none_selected: ["（不填）", "(none)"],
  yes: ["是", "Yes"],
  now: ["现在", "Now"],
  today: ["今天", "Today"],
  get_location: ["获取当前位置", "Get my location"],
  locating: ["正在定位…", "Locating…"],
  location_accuracy: ["精度约 {m} 米", "Accurate to about {m} m"],
  location_failed: [
    "无法定位（{reason}），请手动填写经纬度。",
    "No location ({reason}): type the latitude and longitude.",
  ],
  household_search: ["搜索户编号、户主或地址", "Search by number, head or address"],
  household_new: ["新建农户", "New household"],
  household_none: ["本地没有匹配的农户。", "No matching household on this tablet."],
  household_back: ["保存农户后返回走访记录", "Save the household, then back to the visit"],
  roster_empty: ["本地没有队员名单，请先同步。", "No roster on this tablet: sync first."],
  photos: ["照片", "Photos"],
  add_photo: ["拍照或选择照片", "Take or choose a photo"],
  photo_not_image: ["这不是图片文件，请选择照片。", "That is not an image: choose a photo."],
  photo_too_big: [
    "照片太大（超过 {mb} MB），无法处理。",
    "The photo is too large to process (over {mb} MB).",
  ],
  photo_too_many: ["最多 {n} 张照片。", "At most {n} photos."],
  photo_unreadable: ["无法读取这张图片。", "This image cannot be read."],
  photo_scaled: ["已压缩为 {kb} KB", "Scaled to {kb} KB"],
  edit: ["修改", "Edit"],
  server_reasons: ["服务器退回的原因：", "The server's reasons:"],
  reviewer_comment: ["审核意见：", "Reviewer's comment:"],
  record_id: ["记录编号", "Record id"],
  // Sync.
  sync_now: ["同步", "Sync now"],
  syncing: ["正在同步…", "Syncing…"],
  sync_sending: ["正在发送：已发送 {n} 条", "Sending: {n} sent"],
  sync_receiving: ["正在接收：已接收 {n} 条", "Receiving: {n} received"],
  sync_done: [
    "同步完成：发送 {sent} 条，接收 {received} 条，退回 {refused} 条，冲突 {conflicts} 条。",
    "Sync done: {sent} sent, {received} received, {refused} refused, {conflicts} conflict(s).",
  ],
  sync_offline: [
    "没有网络。记录都安全地保存在本平板上，有网络时会自动发送。",
    "No connection. Your records are safe on this tablet and will be sent when there is a connection.",
  ],
  sync_failed: [
    "同步中断（{reason}）。记录都安全地保存在本平板上，{seconds} 秒后重试。",
    "Sync interrupted ({reason}). Your records are safe on this tablet; retrying in {seconds} s.",
  ],
  sync_signin: [
    "登录已过期，请输入密码后再同步。记录都安全地保存在本平板上。",
    "Your sign-in has expired: enter your password to sync. Your records are safe on this tablet.",
  ],
  update_ready: ["新版本已下载。", "A new version is ready."],
  update_now: ["立即更新", "Update now"],
};

let lang = localStorage.getItem("fieldsync.lang") === "en" ? "en" : "zh";

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = value === "en" ? "en" : "zh";
  localStorage.setItem("fieldsync.lang", lang);
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}

function fill(template, params) {
  return template.replace(/\{(\w+)\}/gu, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The app's string `key` in the chosen language. */
export function t(key, params = {}) {
  const pair = STRINGS[key];
  if (!pair) throw new Error(`no string ${key}`);
  return fill(pair[lang === "en" ? 1 : 0], params);
}

/** A label from the schema export ({zh, en}). */
export function label(described) {
  return lang === "en" ? described.en : described.zh;
}

/** Every key in both languages (the tests check none is missing). */
export const ALL_STRINGS = STRINGS;
