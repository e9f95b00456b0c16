from django.contrib import admin

admin.site.site_header = "Orchestration admin"
admin.site.site_title = "Orchestration admin"
admin.site.index_title = "Clusters, models, deployments and who owns them"
