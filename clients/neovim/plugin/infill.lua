-- :Infill toggle | status | log
if vim.g.loaded_infill then
  return
end
vim.g.loaded_infill = true

local subcommands = {
  toggle = function() require("infill").toggle() end,
  status = function() vim.notify(require("infill").status_line()) end,
  log = function() vim.cmd.tabnew(vim.lsp.get_log_path()) end,
}

vim.api.nvim_create_user_command("Infill", function(args)
  local action = subcommands[args.fargs[1] or "status"]
  if not action then
    vim.notify("Infill: unknown subcommand '" .. args.fargs[1] .. "' (toggle, status, log)", vim.log.levels.ERROR)
    return
  end
  action()
end, {
  nargs = "?",
  complete = function() return vim.tbl_keys(subcommands) end,
  desc = "Infill: toggle suggestions, show status, open the log",
})
