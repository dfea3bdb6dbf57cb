# The `op` name of octopipeline, shared by the .deb (debian/postinst, debian/prerm) and the .rpm
# (octopipeline.spec): build.sh pastes this file into each. /usr/bin/octopipeline is the program;
# /usr/bin/op is an alternatives link to it, made only where that path is free, because
# 1Password's CLI installs a /usr/bin/op of its own. `update-alternatives` never replaces a file
# that is not a link, but it would still link op's completions, so a foreign op is left alone
# entirely and any earlier registration of ours (from before it was installed) is dropped.
op_name_register() {
  if { [ -e /usr/bin/op ] || [ -L /usr/bin/op ]; } && [ "$(readlink /usr/bin/op)" != /etc/alternatives/op ]; then
    update-alternatives --remove op /usr/bin/octopipeline > /dev/null 2>&1 || true
    echo "octopipeline: /usr/bin/op belongs to another program; run this one as octopipeline"
  else
    update-alternatives --install /usr/bin/op op /usr/bin/octopipeline 50 \
      --slave /usr/share/bash-completion/completions/op op.bash /usr/share/octopipeline/completions/op.bash \
      --slave /usr/share/zsh/@ZSH_DIR@/_op op.zsh /usr/share/octopipeline/completions/_op \
      --slave /usr/share/fish/vendor_completions.d/op.fish op.fish /usr/share/octopipeline/completions/op.fish
  fi
}

# Not registered (op was taken at install) is fine: Fedora's alternatives then exits non-zero.
op_name_unregister() {
  update-alternatives --remove op /usr/bin/octopipeline || true
}
