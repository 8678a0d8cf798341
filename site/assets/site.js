/* Shared page code of the demo site: the "stop measuring" link in the footer. */
window.reawake = window.reawake || [];
document.addEventListener('click', function (e) {
  var link = e.target.closest && e.target.closest('[data-optout]');
  if (!link) return;
  e.preventDefault();
  window.reawake.push(['optOut']);
  link.textContent = 'このブラウザでのアクセス計測を停止しました';
});
