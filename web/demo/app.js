// Touchwood demo app: a tiny router (history.pushState), a language switch and like
// counters. It knows nothing about the clickstream API: the data-cs-event attributes in
// index.html are the whole integration, plus the init() call at the bottom.
(function () {
  'use strict';

  var STRINGS = {
    en: {
      skip: 'Skip to content', nav_woods: 'Woods', nav_about: 'About', language: 'Language',
      home_title: 'Touch wood',
      home_intro: 'Like the woods you would knock on for luck. Every button on this page carries a data-cs-event tag, so each click becomes one clickstream event.',
      wood_0: 'Oak', wood_1: 'Maple', wood_2: 'Walnut', wood_3: 'Cherry', wood_4: 'Teak', wood_5: 'Birch',
      likes: 'likes', like: 'Like', unlike: 'Unlike',
      geo_title: 'Where are you touching wood?',
      geo_note: 'Optional. Your browser asks you first; the position is sent once, with this click only.',
      geo_button: 'Share my location', geo_asked: 'Asked your browser for your location.',
      about_title: 'About Touchwood',
      about_intro: 'This page was reached without a full page load (history.pushState), and the tracker still recorded a page_view for it. These are the click tags of the demo:',
      about_caption: 'Click tags', col_tag: 'Tag', col_value: 'Property', col_meaning: 'Meaning',
      tag_lang: 'Which language was chosen', tag_like: 'Which wood was liked', tag_unlike: 'Which wood was unliked',
      tag_geo: 'Where the visitor is, when they agree to share it',
      about_privacy: 'If your browser sends Do-Not-Track or Global Privacy Control, nothing is recorded.',
      back: 'Back to the woods', missing_title: 'No such page',
      footer: 'A demo of the clickstream tracker.',
      stats: 'events queued: {queued} · sent: {sent}',
      no_config: 'Tracking is off: /demo/config.js did not define window.CLICKSTREAM_DEMO.'
    },
    'zh-HK': {
      skip: '跳到內容', nav_woods: '木材', nav_about: '關於', language: '語言',
      home_title: '摸摸木頭',
      home_intro: '讚好你會敲來祈求好運的木材。本頁每個按鈕都帶有 data-cs-event 標籤，每次點擊都會成為一個點擊流事件。',
      wood_0: '橡木', wood_1: '楓木', wood_2: '胡桃木', wood_3: '櫻桃木', wood_4: '柚木', wood_5: '樺木',
      likes: '個讚', like: '讚好', unlike: '取消讚好',
      geo_title: '你在哪裏摸木頭？',
      geo_note: '可選。瀏覽器會先詢問你；位置只會隨這次點擊傳送一次。',
      geo_button: '分享我的位置', geo_asked: '已向瀏覽器索取你的位置。',
      about_title: '關於 Touchwood',
      about_intro: '這一頁沒有重新載入（history.pushState），追蹤器仍然記錄了一個 page_view。以下是本示範的點擊標籤：',
      about_caption: '點擊標籤', col_tag: '標籤', col_value: '屬性', col_meaning: '意思',
      tag_lang: '選擇了哪種語言', tag_like: '讚好了哪種木材', tag_unlike: '取消讚好了哪種木材',
      tag_geo: '訪客同意分享時的位置',
      about_privacy: '如果你的瀏覽器發出 Do-Not-Track 或 Global Privacy Control，甚麼都不會記錄。',
      back: '返回木材', missing_title: '找不到此頁',
      footer: '點擊流追蹤器示範。',
      stats: '排隊事件：{queued} · 已傳送：{sent}',
      no_config: '追蹤已關閉：/demo/config.js 沒有定義 window.CLICKSTREAM_DEMO。'
    },
    fr: {
      skip: 'Aller au contenu', nav_woods: 'Bois', nav_about: 'À propos', language: 'Langue',
      home_title: 'Touchons du bois',
      home_intro: 'Aimez les bois que vous toucheriez pour la chance. Chaque bouton de cette page porte un attribut data-cs-event : chaque clic devient un événement du clickstream.',
      wood_0: 'Chêne', wood_1: 'Érable', wood_2: 'Noyer', wood_3: 'Merisier', wood_4: 'Teck', wood_5: 'Bouleau',
      likes: 'j’aime', like: 'J’aime', unlike: 'Je n’aime plus',
      geo_title: 'Où touchez-vous du bois ?',
      geo_note: 'Facultatif. Votre navigateur vous demande d’abord ; la position n’est envoyée qu’une fois, avec ce clic.',
      geo_button: 'Partager ma position', geo_asked: 'Position demandée à votre navigateur.',
      about_title: 'À propos de Touchwood',
      about_intro: 'Cette page a été ouverte sans rechargement (history.pushState) et le traceur a tout de même enregistré un page_view. Voici les balises de clic de la démo :',
      about_caption: 'Balises de clic', col_tag: 'Balise', col_value: 'Propriété', col_meaning: 'Sens',
      tag_lang: 'La langue choisie', tag_like: 'Le bois aimé', tag_unlike: 'Le bois qui n’est plus aimé',
      tag_geo: 'La position du visiteur, s’il accepte de la partager',
      about_privacy: 'Si votre navigateur envoie Do-Not-Track ou Global Privacy Control, rien n’est enregistré.',
      back: 'Retour aux bois', missing_title: 'Page introuvable',
      footer: 'Une démo du traceur de clickstream.',
      stats: 'en file : {queued} · envoyés : {sent}',
      no_config: 'Suivi désactivé : /demo/config.js n’a pas défini window.CLICKSTREAM_DEMO.'
    }
  };
  var ROUTES = { '/demo': 'home', '/demo/': 'home', '/demo/index.html': 'home', '/demo/about': 'about' };
  var TITLES = { home: 'home_title', about: 'about_title', missing: 'missing_title' };

  var lang = 'en';
  var likes = [0, 0, 0, 0, 0, 0];
  var $ = function (sel) { return document.querySelector(sel); };
  var $$ = function (sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); };
  var t = function (key) { return STRINGS[lang][key] || STRINGS.en[key] || key; };

  function currentPage() {
    return ROUTES[location.pathname] || 'missing';
  }

  function render() {
    var page = currentPage();
    $$('[data-page]').forEach(function (s) { s.hidden = s.getAttribute('data-page') !== page; });
    $$('nav a').forEach(function (a) {
      if (ROUTES[a.pathname] === page) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    document.title = t(TITLES[page]) + ' · Touchwood';
  }

  function translate() {
    document.documentElement.lang = lang;
    $$('[data-i18n]').forEach(function (el) { el.textContent = t(el.getAttribute('data-i18n')); });
    $$('.langs button').forEach(function (b) { b.setAttribute('aria-pressed', String(b.lang === lang)); });
    render();
  }

  function navigate(href) {
    history.pushState(null, '', href);
    render();
    var heading = $('[data-page]:not([hidden]) h1');
    window.scrollTo(0, 0);
    $('#main').focus({ preventScroll: true });
    if (heading) heading.scrollIntoView({ block: 'nearest' });
  }

  document.addEventListener('click', function (e) {
    var target = e.target;
    var link = target.closest('a[data-route]');
    if (link && !e.defaultPrevented && e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey) {
      e.preventDefault();
      if (link.pathname !== location.pathname) navigate(link.pathname);
      return;
    }
    var button = target.closest('button');
    if (!button) return;
    if (button.hasAttribute('data-like')) {
      var i = +button.getAttribute('data-like');
      likes[i] += 1;
      $('#likes-' + i).value = likes[i];
    } else if (button.hasAttribute('data-unlike')) {
      var j = +button.getAttribute('data-unlike');
      likes[j] = Math.max(0, likes[j] - 1);
      $('#likes-' + j).value = likes[j];
    } else if (button.closest('.langs')) {
      lang = button.lang;
      translate();
    } else if (button.id === 'geo-button') {
      $('#geo-status').textContent = t('geo_asked');
    }
  });
  window.addEventListener('popstate', render);

  translate();

  var config = window.CLICKSTREAM_DEMO;
  if (!config || !window.clickstream) {
    var notice = $('#notice');
    notice.textContent = t('no_config');
    notice.hidden = false;
    return;
  }
  window.clickstream.init(Object.assign({ geo: true }, config));

  var stats = $('#stats');
  setInterval(function () {
    var s = window.clickstream.stats();
    if (s) stats.textContent = t('stats').replace('{queued}', s.queued).replace('{sent}', s.sent);
  }, 1000);
})();
